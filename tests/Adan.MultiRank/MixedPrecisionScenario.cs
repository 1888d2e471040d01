using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Precision;
using Adan.Sharded.Zero;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// bf16-mixed on W ranks with the engine's tensor-op update (the device path), over MPI or NCCL (the stand-in on host
/// memory): a model with a LayerNorm (kept fp32) trains 4 steps of 2 micro-batches per rank; every step, every rank's
/// bf16 compute copy must equal every other's bit for bit, and the fp32 master shard must match one process replaying
/// the same 2·W micro-batches, within 1e-6 relative + 1e-6 absolute when reducing in fp32 (only the order of fp32
/// sums differs) and 2e-2 when reducing in bf16 (partial sums rounded). Arguments: BACKEND (mpi | nccl) STAGE
/// REDUCE (fp32 | bf16) OVERLAP (0 | 1). Prints "mixed precision ok: max |difference| D" per rank.
/// </summary>
internal static class MixedPrecisionScenario
{
    private const int Steps = 4;
    private const int MicroBatches = 2;

    public static int Run(string[] args)
    {
        var backend = args[0];
        var stage = (ZeroStage)int.Parse(args[1], CultureInfo.InvariantCulture);
        var reduceType = args[2] == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        var overlap = args[3] == "1";
        set_num_threads(1);
        using ICollective c = backend == "nccl" ? new NcclCollective(new MpiCollective(), CPU) : new MpiCollective();
        using var model = Model();
        using var flat = FlatParameters.FromModule(model, c.WorldSize, ComputePrecision.Bf16Mixed, alignment: 1);
        using var sync = new GradientSync(flat, c, stage == ZeroStage.Replicated ? GradientReduction.AllReduce : GradientReduction.ReduceScatter,
            bucketBytes: 64, overlapWith: overlap ? model : null, reduceType: reduceType);
        using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options(), 0.5, stage, kernel: UpdateKernel.Reference, sync: sync);

        using var replayModel = Model();
        using var single = new SingleProcessCollective();
        using var replay = FlatParameters.FromModule(replayModel, 1, ComputePrecision.Bf16Mixed, alignment: 1);
        using var replayAdan = ShardedOptimizers.Create(replay, single, MlpProblem.Options(), 0.5, ZeroStage.OptimizerState, kernel: UpdateKernel.Reference);

        var tolerance = reduceType == ScalarType.Float32 ? 1e-6 : 2e-2;
        var worst = 0.0;
        for (var step = 0; step < Steps; step++)
        {
            flat.ZeroGrad();
            for (var m = 0; m < MicroBatches; m++)
            {
                using var scope = NewDisposeScope();
                if (overlap && m == MicroBatches - 1)
                {
                    sync.Arm();
                }
                model.call(Input(step, c.Rank, m)).square().mean().backward();
                if (m < MicroBatches - 1)
                {
                    flat.AccumulateGradients();
                }
            }
            Check.That(adan.Step(MicroBatches), $"step {step} was skipped");

            replay.ZeroGrad();
            for (var r = 0; r < c.WorldSize; r++)
            {
                for (var m = 0; m < MicroBatches; m++)
                {
                    using var scope = NewDisposeScope();
                    replayModel.call(Input(step, r, m)).square().mean().backward();
                    if (r < c.WorldSize - 1 || m < MicroBatches - 1)
                    {
                        replay.AccumulateGradients();
                    }
                }
            }
            Check.That(replayAdan.Step(c.WorldSize * MicroBatches), $"replay step {step} was skipped");

            using (var compute = flat.ComputeValues.to(ScalarType.Float32))
            using (var lowest = compute.clone())
            {
                c.AllReduce(lowest, ReduceOp.Min);
                Check.That(lowest.eq(compute).all().item<bool>(), $"step {step}: the ranks' bf16 compute copies differ");
            }
            // The replay's layout is padded for one rank: compare what both hold.
            var length = Math.Min(adan.StateLength, replay.Layout.TotalNumel - adan.StateStart);
            using var own = flat.Values.narrow(0, adan.StateStart, length);
            using var expected = replay.Values.narrow(0, adan.StateStart, length);
            var excess = own.sub(expected).abs().sub(expected.abs().mul(tolerance).add(tolerance)).max().item<float>();
            worst = Math.Max(worst, own.sub(expected).abs().max().item<float>());
            Check.That(excess <= 0, $"step {step}: the master shard differs from the one-process replay by up to {worst:G3}");
        }
        Console.WriteLine($"rank {c.Rank}: mixed precision ok: max |difference| {worst:G3}");
        return 0;
    }

    private static nn.Module<Tensor, Tensor> Model()
    {
        manual_seed(7);
        return nn.Sequential(("fc1", nn.Linear(6, 16)), ("norm", nn.LayerNorm(16)), ("act", nn.Tanh()), ("fc2", nn.Linear(16, 3)));
    }

    private static Tensor Input(int step, int rank, int micro)
    {
        using var generator = new Generator((ulong)(1000 * step + 10 * rank + micro));
        return randn([4, 6], generator: generator);
    }
}
