using System.Text.Json;
using Adan.MultiRank;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Tests.MultiRank;
using Adan.Sharded.Zero;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// ShardedOptimizer on W ranks against single-process <see cref="Optim.Adan"/> on the same global
/// batches: 30 steps of an MLP. Tolerance: parameters within 2e-5 + 2e-4·|ref| (float32
/// summation order of the gradient reduction, compounded over 30 steps), losses within 1e-5 relative.
/// </summary>
public class ShardedAdanTests(ITestOutputHelper output)
{
    private const int Steps = 30;

    [Theory]
    [InlineData(2, 1, 0.0)]
    [InlineData(4, 1, 0.0)]
    [InlineData(2, 2, 0.0)]
    [InlineData(4, 0, 0.0)]
    [InlineData(2, 1, 0.5)]
    [InlineData(4, 2, 0.5)]
    public void ShardedAdanEqualsSingleProcessAdan(int ranks, int stage, double maxGradNorm)
    {
        var (losses, parameters, norms) = Reference(maxGradNorm);
        var result = RunSharded(ranks, stage, maxGradNorm);
        var gotLosses = result.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var gotParams = result.GetProperty("params").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var gotNorms = result.GetProperty("norms").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var maxParam = parameters.Zip(gotParams).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"W={ranks} stage {stage} clip {maxGradNorm}: max |Δparam| = {maxParam:E2}");
        for (var s = 0; s < Steps; s++)
        {
            Assert.True(Math.Abs(losses[s] - gotLosses[s]) <= 1e-6 + 1e-5 * Math.Abs(losses[s]),
                $"W={ranks} stage {stage}: loss at step {s} is {gotLosses[s]}, expected {losses[s]}");
            Assert.True(Math.Abs(norms[s] - gotNorms[s]) <= 1e-5 * norms[s] + 1e-7,
                $"W={ranks} stage {stage}: global gradient norm at step {s} is {gotNorms[s]}, expected {norms[s]}");
        }
        Assert.Equal(parameters.Length, gotParams.Length);
        for (var i = 0; i < parameters.Length; i++)
        {
            Assert.True(Math.Abs(parameters[i] - gotParams[i]) <= 2e-5 + 2e-4 * Math.Abs(parameters[i]),
                $"W={ranks} stage {stage}: parameter element {i} is {gotParams[i]}, expected {parameters[i]} (max diff {maxParam:E2})");
        }
    }

    [Fact]
    public void ClippingUsesTheGlobalNormNotAPerShardNorm()
    {
        // With max_grad_norm 0.5 the clip is active; a per-shard norm would give each rank another coefficient.
        var result = RunSharded(2, 1, 0.5);
        var norms = result.GetProperty("norms").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var shardNorms = result.GetProperty("shard_norms").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Contains(norms, n => n > 0.5);
        Assert.All(norms.Zip(shardNorms), p => Assert.True(p.Second < p.First * 0.999,
            $"rank 0's shard norm {p.Second} should be below the global norm {p.First}, so a per-shard clip would differ"));
        // And the trajectory equals single-process Adan, which clips by the global norm.
        ShardedAdanEqualsSingleProcessAdan(2, 1, 0.5);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void StateIsSixteenBytesPerShardElement(int ranks)
    {
        var result = RunSharded(ranks, 1, 0);
        var total = result.GetProperty("total_numel").GetInt64();
        var length = result.GetProperty("state_length").GetInt64();
        Assert.Equal(total / ranks, length);
        Assert.Equal(16 * length, result.GetProperty("state_bytes").GetInt64());
    }

    [Fact]
    public void NonFiniteGradientsAreSkippedWithoutTouchingState()
    {
        using var collective = new SingleProcessCollective();
        using var model = MlpProblem.Model();
        using var flat = FlatParameters.FromModule(model, 1);
        using var adan = ShardedOptimizers.Create(flat, collective, MlpProblem.Options(), maxConsecutiveSkips: 2);
        var (x, y) = MlpProblem.Batch(0);
        flat.ZeroGrad();
        MlpProblem.Loss(model, x, y).backward();
        Assert.True(adan.Step());
        using var before = flat.Values.clone();
        using var stateBefore = adan.StateBuffer("exp_avg").clone();
        flat.ZeroGrad();
        MlpProblem.Loss(model, x, y).backward();
        flat.Gradients![3] = float.NaN;
        Assert.False(adan.Step());
        Assert.Equal(1, adan.SkippedSteps);
        Assert.Equal(1, adan.Groups[0].Step);
        Assert.True(before.eq(flat.Values).all().item<bool>());
        Assert.True(stateBefore.eq(adan.StateBuffer("exp_avg")).all().item<bool>());
        flat.ZeroGrad();
        flat.Gradients![0] = float.PositiveInfinity;
        var e = Assert.Throws<NonFiniteGradientException>(() => adan.Step());
        Assert.Contains("2 consecutive steps", e.Message);
    }

    [Fact]
    public void InvalidArgumentsAreNamed()
    {
        using var collective = new SingleProcessCollective();
        using var model = MlpProblem.Model();
        using var flat = FlatParameters.FromModule(model, 1);
        Assert.Contains("beta2", Assert.Throws<ArgumentException>(() => ShardedOptimizers.Create(flat, collective, new AdanGroupOptions { Beta2 = 1.0 })).Message);
        Assert.Contains("max_grad_norm", Assert.Throws<ArgumentException>(() => ShardedOptimizers.Create(flat, collective, new AdanGroupOptions(), -1)).Message);
        using var flat2 = FlatParameters.FromModule(model, 2);
        Assert.Contains("padded for 2 ranks", Assert.Throws<ArgumentException>(() => ShardedOptimizers.Create(flat2, collective, new AdanGroupOptions())).Message);
    }

    private static JsonElement RunSharded(int ranks, int stage, double maxGradNorm)
    {
        var file = Path.Combine(Path.GetTempPath(), $"adan-sharded-{Guid.NewGuid():N}.json");
        try
        {
            MpiHarness.RunOk(ranks, "sharded-mlp", stage.ToString(), Steps.ToString(), maxGradNorm.ToString(System.Globalization.CultureInfo.InvariantCulture), file);
            return JsonDocument.Parse(File.ReadAllText(file)).RootElement.Clone();
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static (double[] Losses, float[] Params, double[] Norms) Reference(double maxGradNorm)
    {
        set_num_threads(1);
        using var model = MlpProblem.Model();
        var o = MlpProblem.Options();
        using var adan = new Adan.Sharded.Optim.Adan(model.parameters(), o.LearningRate, o.Beta1, o.Beta2, o.Beta3, o.Eps, o.WeightDecay, maxGradNorm, o.NoProx);
        var losses = new double[Steps];
        var norms = new double[Steps];
        for (var s = 0; s < Steps; s++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = MlpProblem.Batch(s);
            adan.zero_grad();
            var loss = MlpProblem.Loss(model, x, y);
            loss.backward();
            losses[s] = loss.item<float>();
            norms[s] = Math.Sqrt(model.parameters().Sum(p => p.grad!.pow(2).sum().item<float>()));
            adan.step();
        }
        return (losses, model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray(), norms);
    }
}
