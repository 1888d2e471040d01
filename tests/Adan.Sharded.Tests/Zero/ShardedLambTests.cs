using System.Text.Json;
using Adan.Sharded.Optim;
using Adan.Sharded.Tests.MultiRank;
using Adan.Sharded.Tests.Optim;
using Adan.TestSupport;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// ShardedOptimizer on W ranks reproduces every golden trajectory of timm's LAMB (the rank average of the
/// fed gradients is the golden gradient) within Adan's tolerances, with a layout of alignment 1 so
/// parameters straddle shard boundaries; and a straddling parameter's trust ratio uses its whole norms.
/// </summary>
public class ShardedLambTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in LambGoldenCase.FileNames())
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
    public void ShardedLambReproducesTheGoldenTrajectory(string file, int ranks)
    {
        // ZeRO-2 at W = 3 (gradients released), ZeRO-1 otherwise.
        Replay(file, ranks, ranks == 3 ? 2 : 1);
    }

    [Theory]
    [InlineData("lamb_dev_03_two_groups.json")]
    [InlineData("lamb_dev_05_grad_none_lr_change.json")]
    public void ReplicatedStageReproducesTheGoldenTrajectory(string file) => Replay(file, 2, 0);

    /// <summary>
    /// W = 2, <c>w</c> (6 elements) split 5 | 1 across the shard boundary: the result must be the
    /// update with ‖w‖/‖u‖ of the whole parameter (within 1e-6), and differ by more than 1e-3 from
    /// what each shard's own norms would give.
    /// </summary>
    [Fact]
    public void TrustRatioOfAStraddlingParameterUsesTheWholeParameterNorms()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lamb-straddle-{Guid.NewGuid():N}.json");
        try
        {
            MpiHarness.RunOk(2, "lamb-straddle", path);
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            var w = Floats(root.GetProperty("w"));
            var gw = Floats(root.GetProperty("grad_w"));
            var actual = Floats(root.GetProperty("w_after"));
            var scalars = new LambScalars(0.05, 0.9, 0.999, 1e-6, 0.1, biasCorrection: true, gradAveraging: true, trustClip: false,
                alwaysAdapt: false, step: 1, gradientCoefficient: 1.0);

            var whole = OneStep(w, gw, scalars, [(0, 6)]);
            var perShard = OneStep(w, gw, scalars, [(0, 5), (5, 1)]);
            output.WriteLine($"max |sharded - whole-norm| = {LambGoldenTests.MaxAbsDiff(actual, whole):E3}, " +
                $"max |per-shard-norm - whole-norm| = {LambGoldenTests.MaxAbsDiff(perShard, whole):E3}");
            Tolerance.AssertClose(actual, whole, 1e-6, 1e-6, "w after one step vs whole-parameter norms");
            Assert.True(LambGoldenTests.MaxAbsDiff(perShard, whole) > 1e-3,
                "the test is void: per-shard norms give the same update as whole-parameter norms");
        }
        finally
        {
            File.Delete(path);
        }
    }

    // One LAMB step on fresh state where each (start, length) piece gets a trust ratio from its own norms.
    private static float[] OneStep(float[] param, float[] grad, LambScalars scalars, (int Start, int Length)[] pieces)
    {
        var p = (float[])param.Clone();
        var m = new float[p.Length];
        var v = new float[p.Length];
        var u = new float[p.Length];
        foreach (var (start, length) in pieces)
        {
            var (ps, us) = LambKernel.ComputeUpdate(p.AsSpan(start, length), grad.AsSpan(start, length), m.AsSpan(start, length),
                v.AsSpan(start, length), u.AsSpan(start, length), scalars);
            LambKernel.ApplyUpdate(p.AsSpan(start, length), u.AsSpan(start, length), LambKernel.TrustRatio(ps, us, scalars), scalars.LearningRate);
        }
        return p;
    }

    public static TheoryData<string, int> NcclCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in LambGoldenCase.FileNames())
        {
            data.Add(file, 1);
            data.Add(file, 3);
        }
        return data;
    }

    /// <summary>
    /// The path a GPU run takes, on CPU memory: gradients reduce-scattered, norms all-reduced and parameters
    /// all-gathered over the NCCL binding (the host-memory stand-in), the shard updated by <see cref="Zero.LambTensorStep"/>.
    /// </summary>
    [Theory]
    [MemberData(nameof(NcclCases))]
    public void ShardedLambOverNcclWithTheTensorUpdateReproducesTheGoldenTrajectory(string file, int ranks) =>
        Replay(file, ranks, 1, "nccl", "reference");

    /// <summary>The tensor update with the replicated stage (whole state on every rank, no norm all-reduce) and with ZeRO-2.</summary>
    [Theory]
    [InlineData("lamb_dev_03_two_groups.json", 0)]
    [InlineData("lamb_dev_05_grad_none_lr_change.json", 2)]
    public void TheTensorUpdateOverMpiReproducesTheGoldenTrajectory(string file, int stage) => Replay(file, 2, stage, "mpi", "reference");

    private void Replay(string file, int ranks, int stage, string backend = "mpi", string kernel = "auto")
    {
        var golden = LambGoldenCase.Load(file);
        var path = Path.Combine(Path.GetTempPath(), $"lamb-golden-{Guid.NewGuid():N}.json");
        try
        {
            var result = MpiHarness.Run(ranks, "sharded-lamb-golden", [file, stage.ToString(), path, backend, kernel],
                environment: backend == "nccl" ? NcclStandIn.Environment() : null);
            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.Contains($"{backend}, {(kernel == "reference" ? "Reference" : "Fused")} kernel", result.Stdout[0]);
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            var trajectory = root.GetProperty("params_after").EnumerateArray().ToArray();
            var divisors = root.GetProperty("clip_divisors").EnumerateArray().Select(d => d.GetDouble()).ToArray();
            Assert.Equal(golden.Steps.Count, trajectory.Length);
            var maxDiff = 0.0;
            for (var s = 0; s < golden.Steps.Count; s++)
            {
                if (golden.Steps[s].ClipDivisor is { } divisor)
                {
                    Assert.True(Math.Abs(divisors[s] - divisor) <= 1e-6 * divisor,
                        $"{file} W={ranks}: step {s + 1} clip divisor {divisors[s]:R}, expected {divisor:R}");
                }
                var after = trajectory[s].EnumerateArray().ToArray();
                for (var p = 0; p < golden.Params.Count; p++)
                {
                    var actual = Floats(after[p]);
                    maxDiff = Math.Max(maxDiff, LambGoldenTests.MaxAbsDiff(actual, golden.Steps[s].ParamsAfter[p]));
                    Tolerance.AssertClose(actual, golden.Steps[s].ParamsAfter[p], 1e-5, 1e-5,
                        $"{file} W={ranks} stage {stage}: step {s + 1}, parameter {golden.Params[p].Name}");
                }
            }
            output.WriteLine($"{file} W={ranks} stage {stage}: max |param - ref| over all steps = {maxDiff:E3}");
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
            }
            Assert.Equal(8 * root.GetProperty("state_length").GetInt64(), root.GetProperty("state_bytes").GetInt64());
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static float[] Floats(JsonElement array) => array.EnumerateArray().Select(v => v.GetSingle()).ToArray();
}
