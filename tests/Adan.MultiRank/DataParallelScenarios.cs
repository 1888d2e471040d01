using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Trains a small MLP data-parallel with <see cref="GradientSync"/> all-reducing the gradients after backward and a
/// plain Adan on the averaged gradients: each step draws a seeded global batch, rank r takes rows [r·b, (r+1)·b) and
/// splits them into k micro-batches. Rank 0 prints every step's global loss and the final parameters, so a test can
/// compare W ranks × b with 1 rank × W·b.
/// Arguments: GLOBAL_BATCH STEPS MICRO_BATCHES [BUCKET_BYTES].
/// </summary>
internal static class DataParallelScenarios
{
    public static int TrainMlp(string[] args)
    {
        var globalBatch = int.Parse(args[0], CultureInfo.InvariantCulture);
        var steps = int.Parse(args[1], CultureInfo.InvariantCulture);
        var microBatches = int.Parse(args[2], CultureInfo.InvariantCulture);
        var bucketBytes = args.Length > 3 ? long.Parse(args[3], CultureInfo.InvariantCulture) : GradientBuckets.DefaultBucketBytes;
        torch.set_num_threads(1);

        using var c = new MpiCollective();
        var local = globalBatch / c.WorldSize;
        Check.That(local * c.WorldSize == globalBatch && local % microBatches == 0,
            $"global batch {globalBatch} must split into {c.WorldSize} ranks × {microBatches} micro-batches");

        // Different initial values per rank: the broadcast must make rank 0's the common start.
        manual_seed(7 + c.Rank);
        using var model = nn.Sequential(("fc1", nn.Linear(8, 16)), ("act", nn.Tanh()), ("fc2", nn.Linear(16, 4)));
        using var flat = FlatParameters.FromModule(model, c.WorldSize);
        using var sync = new GradientSync(flat, c, GradientReduction.AllReduce, bucketBytes);
        c.Broadcast(flat.Values);
        // Adan steps on the parameter views; their gradients are views of the averaged flat buffer.
        using var adan = new Adan.Sharded.Optim.Adan(flat.Parameters, lr: 0.01);

        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            manual_seed(1000 + step);
            var x = randn(globalBatch, 8);
            var y = randn(globalBatch, 4);
            flat.ZeroGrad();
            var micro = local / microBatches;
            var lossSum = 0.0;
            for (var m = 0; m < microBatches; m++)
            {
                var start = c.Rank * local + m * micro;
                var loss = nn.functional.mse_loss(model.forward(x.narrow(0, start, micro)), y.narrow(0, start, micro));
                loss.backward();
                lossSum += loss.item<float>();
            }
            flat.Gradients.mul_(sync.Synchronize(microBatches));
            var globalLoss = c.AllReduce(lossSum / microBatches, ReduceOp.Average);
            adan.step();
            if (c.Rank == 0)
            {
                Console.WriteLine($"loss {step} {globalLoss.ToString("R", CultureInfo.InvariantCulture)}");
            }
        }
        if (c.Rank == 0)
        {
            // Parameters only: the padding differs with the world size.
            var values = flat.Parameters.SelectMany(p => p.data<float>().ToArray());
            Console.WriteLine("params " + string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        }
        // Every rank must end with identical parameters.
        using var mine = flat.Values.clone();
        using var reference = flat.Values.clone();
        c.Broadcast(reference);
        Check.That(mine.eq(reference).all().item<bool>(), $"rank {c.Rank} parameters differ from rank 0's");
        return 0;
    }
}
