using System.Globalization;
using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Trains the MLP of <see cref="MlpProblem"/> with <see cref="ShardedOptimizer"/> on W ranks (each
/// rank a 1/W slice of every global batch) and writes, from rank 0, the losses, the final
/// parameters, the global gradient norms and the norms a per-shard clip would have used.
/// Every rank also checks what its stage must free. Arguments: STAGE STEPS MAX_GRAD_NORM OUTPUT.
/// </summary>
internal static class ShardedMlpScenario
{
    public static int Run(string[] args)
    {
        var stage = (ZeroStage)int.Parse(args[0], CultureInfo.InvariantCulture);
        var steps = int.Parse(args[1], CultureInfo.InvariantCulture);
        var maxGradNorm = double.Parse(args[2], CultureInfo.InvariantCulture);
        set_num_threads(1);
        using var c = new MpiCollective();
        using var model = MlpProblem.Model();
        using var flat = FlatParameters.FromModule(model, c.WorldSize);
        using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options(), maxGradNorm, stage);
        var local = MlpProblem.GlobalBatch / c.WorldSize;

        var losses = new List<double>();
        var norms = new List<double>();
        var shardNorms = new List<double>();
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = MlpProblem.Batch(step);
            flat.ZeroGrad();
            var loss = MlpProblem.Loss(model, x.narrow(0, c.Rank * local, local), y.narrow(0, c.Rank * local, local));
            loss.backward();
            losses.Add(c.AllReduce(loss.item<float>(), ReduceOp.Average));

            // What the official optimizer would clip by under ZeRO: the norm of this rank's shard only.
            using var averaged = flat.Gradients!.clone();
            c.AllReduce(averaged, ReduceOp.Average);
            using var shard = averaged.narrow(0, flat.Layout.ShardStart(c.Rank), flat.Layout.ShardSize);
            shardNorms.Add(shard.norm().item<float>());

            Check.That(adan.Step(), "a finite step was skipped");
            norms.Add(adan.LastGradNorm);
            if (stage == ZeroStage.Gradients)
            {
                // Its own block, plus the pages that straddle the block's two ends and the buffer's end.
                var allowed = 4 * flat.Layout.ShardSize + 3 * Environment.SystemPageSize;
                Check.That(flat.ResidentGradientBytes <= allowed,
                    $"ZeRO-2 kept {flat.ResidentGradientBytes} bytes of the flat gradient buffer after the step (its block and edges: {allowed})");
            }
            else
            {
                Check.That(flat.ResidentGradientBytes >= 4 * flat.Layout.TotalNumel, "ZeRO-0/1 returned gradient pages");
            }
        }
        Check.That(adan.StateBytes == 16 * adan.StateLength, $"state bytes {adan.StateBytes} != 16 × {adan.StateLength}");
        var expectedLength = stage == ZeroStage.Replicated ? flat.Layout.TotalNumel : flat.Layout.ShardSize;
        Check.That(adan.StateLength == expectedLength, $"state length {adan.StateLength}, expected {expectedLength}");
        Console.WriteLine($"rank {c.Rank}: state {adan.StateBytes} bytes = 16 × {adan.StateLength}; padding {adan.PaddingInState}");
        if (c.Rank == 0)
        {
            File.WriteAllText(args[3], JsonSerializer.Serialize(new
            {
                losses,
                norms,
                shard_norms = shardNorms,
                @params = flat.Parameters.SelectMany(p => p.data<float>().ToArray()).ToArray(),
                state_bytes = adan.StateBytes,
                state_length = adan.StateLength,
                total_numel = flat.Layout.TotalNumel,
            }));
        }
        return 0;
    }
}
