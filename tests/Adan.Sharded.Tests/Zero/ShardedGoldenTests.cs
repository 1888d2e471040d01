using System.Text.Json;
using Adan.Sharded.Tests.MultiRank;
using Adan.Sharded.Tests.Optim;
using Adan.TestSupport;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// ShardedOptimizer on W ranks reproduces every golden trajectory of the official Adan (the rank
/// average of the fed gradients is the golden gradient), within the golden tolerances. The layout
/// has alignment 1, so parameters straddle shard boundaries and W does not divide N.
/// </summary>
public class ShardedGoldenTests
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in GoldenCase.FileNames())
        {
            foreach (var ranks in new[] { 2, 3, 4 })
            {
                data.Add(file, ranks);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ShardedAdanReproducesTheGoldenTrajectory(string file, int ranks)
    {
        // ZeRO-2 at W = 3 (gradients released), ZeRO-1 otherwise.
        Replay(file, ranks, ranks == 3 ? 2 : 1);
    }

    [Theory]
    [InlineData("dev_04_max_grad_norm.json")]
    [InlineData("dev_06_grad_none.json")]
    public void ReplicatedStageReproducesTheGoldenTrajectory(string file) => Replay(file, 2, 0);

    private static void Replay(string file, int ranks, int stage)
    {
        var golden = GoldenCase.Load(file);
        var output = Path.Combine(Path.GetTempPath(), $"adan-golden-{Guid.NewGuid():N}.json");
        try
        {
            MpiHarness.RunOk(ranks, "sharded-golden", file, stage.ToString(), output);
            using var doc = JsonDocument.Parse(File.ReadAllText(output));
            var root = doc.RootElement;
            var trajectory = root.GetProperty("params_after").EnumerateArray().ToArray();
            Assert.Equal(golden.Steps.Count, trajectory.Length);
            for (var s = 0; s < golden.Steps.Count; s++)
            {
                var after = trajectory[s].EnumerateArray().ToArray();
                for (var p = 0; p < golden.Params.Count; p++)
                {
                    Tolerance.AssertClose(Floats(after[p]), golden.Steps[s].ParamsAfter[p], 1e-5, 1e-5,
                        $"{file} W={ranks} stage {stage}: step {s + 1}, parameter {golden.Params[p].Name}");
                }
            }
            var state = root.GetProperty("final_state").EnumerateArray().ToArray();
            var steps = root.GetProperty("steps").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            for (var p = 0; p < golden.Params.Count; p++)
            {
                var expected = golden.FinalState[p];
                if (expected is null)
                {
                    Assert.Equal(JsonValueKind.Null, state[p].ValueKind);
                    continue;
                }
                var name = golden.Params[p].Name;
                Assert.True(expected.Step == steps[p], $"{file} W={ranks}: step of {name} is {steps[p]}, expected {expected.Step}");
                Tolerance.AssertStateClose(Floats(state[p].GetProperty("exp_avg")), expected.ExpAvg, $"{file} W={ranks}: exp_avg of {name}");
                Tolerance.AssertStateClose(Floats(state[p].GetProperty("exp_avg_sq")), expected.ExpAvgSq, $"{file} W={ranks}: exp_avg_sq of {name}");
                Tolerance.AssertStateClose(Floats(state[p].GetProperty("exp_avg_diff")), expected.ExpAvgDiff, $"{file} W={ranks}: exp_avg_diff of {name}");
                Tolerance.AssertStateClose(Floats(state[p].GetProperty("neg_pre_grad")), expected.NegPreGrad, $"{file} W={ranks}: neg_pre_grad of {name}");
            }
            Assert.Equal(16 * root.GetProperty("state_length").GetInt64(), root.GetProperty("state_bytes").GetInt64());
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static float[] Floats(JsonElement array) => array.EnumerateArray().Select(v => v.GetSingle()).ToArray();
}
