using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// One <see cref="ShardedOptimizer"/> step on W = 2 ranks over a parameter <c>w</c> of 6 elements and
/// <c>b</c> of 4, alignment 1: shards are [0, 5) and [5, 10), so <c>w</c> straddles the boundary.
/// Both ranks feed the same seeded gradient; weight decay 0.1 turns the trust ratio on. Rank 0
/// writes the initial values, the gradients and the parameters after the step to OUTPUT.
/// Arguments: OUTPUT.
/// </summary>
internal static class LambStraddleScenario
{
    public static float[] InitialW { get; } = [0.9f, -1.2f, 0.7f, 1.5f, -0.8f, 0.01f];

    public static float[] InitialB { get; } = [0.3f, -0.2f, 0.1f, 0.05f];

    public static int Run(string[] args)
    {
        using var c = new MpiCollective();
        Check.That(c.WorldSize == 2, $"the straddle scenario needs 2 ranks, got {c.WorldSize}");
        var parameters = new List<(string, Parameter)> { ("w", new Parameter(tensor(InitialW))), ("b", new Parameter(tensor(InitialB))) };
        using var flat = new FlatParameters(parameters, c.WorldSize, alignment: 1, trackUnusedParameters: true);
        Check.That(flat.Layout.ShardSize == 5, $"shard size {flat.Layout.ShardSize}, expected 5");
        using var lamb = ShardedOptimizers.Create(flat, c, new LambGroupOptions { LearningRate = 0.05, WeightDecay = 0.1 }, maxGradNorm: null);

        var generator = new Random(1234);
        var gw = Enumerable.Range(0, InitialW.Length).Select(_ => (float)(generator.NextDouble() * 2 - 1)).ToArray();
        var gb = Enumerable.Range(0, InitialB.Length).Select(_ => (float)(generator.NextDouble() * 2 - 1)).ToArray();
        flat.ZeroGrad();
        flat.Parameters[0].grad = tensor(gw);
        flat.Parameters[1].grad = tensor(gb);
        Check.That(lamb.Step(), "a finite step was skipped");
        if (c.Rank == 0)
        {
            File.WriteAllText(args[0], JsonSerializer.Serialize(new
            {
                w = InitialW, b = InitialB, grad_w = gw, grad_b = gb,
                w_after = flat.Parameters[0].data<float>().ToArray(), b_after = flat.Parameters[1].data<float>().ToArray(),
            }));
        }
        return 0;
    }
}
