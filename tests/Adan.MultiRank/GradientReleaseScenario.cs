using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// ZeRO-2 returns the gradient pages of shards a rank does not own bucket by bucket, as each bucket's reduce-scatter
/// completes while backward runs. Trains the same deep MLP (LAYERS Linear layers of WIDTH × WIDTH, buckets of
/// BUCKET_BYTES) with ZeRO-1 and with ZeRO-2, both with overlapped reduction, and checks on every rank and step that
/// the parameters are bit for bit equal, and that the peak of the resident gradient pages (<c>mincore</c>, sampled
/// before every release and after the step: <see cref="FlatParameters.TrackResidentGradientPeak"/>) is the whole
/// buffer with ZeRO-1 but, with ZeRO-2, at most the huge pages holding the rank's shard plus the largest parameter (autograd writes a whole
/// gradient before its buckets can launch), the buckets in flight
/// (<see cref="GradientSync.DefaultMaxBucketsInFlight"/>) and up to two more (the one waiting on that parameter,
/// the one a launch holds while it waits under the cap), two huge pages and four pages: pages are returned a
/// whole huge page at a time (<see cref="FlatParameters.ReleaseGradients"/>), so the reduced front keeps at most one
/// huge page that is partly reduced, and the written front at most one that a huge-page fault brought in partly
/// written. The first step starts
/// with the whole buffer resident (it was zeroed when allocated), so the check takes the smallest peak over the steps.
/// Arguments: LAYERS WIDTH STEPS BUCKET_BYTES. Prints "peak gradient bytes rank R: ..." from every rank.
/// </summary>
internal static class GradientReleaseScenario
{
    public static int Run(string[] args)
    {
        var layers = int.Parse(args[0], CultureInfo.InvariantCulture);
        var width = int.Parse(args[1], CultureInfo.InvariantCulture);
        var steps = int.Parse(args[2], CultureInfo.InvariantCulture);
        set_num_threads(1);
        using var c = new MpiCollective();
        var bucketBytes = long.Parse(args[3], CultureInfo.InvariantCulture);
        using var zero1 = new Trained(layers, width, c, ZeroStage.OptimizerState, bucketBytes);
        using var zero2 = new Trained(layers, width, c, ZeroStage.Gradients, bucketBytes);
        var buckets = zero2.Overlap.Buckets;
        Check.That(buckets.Count >= layers, $"only {buckets.Count} buckets for {layers} layers");
        Check.That(zero2.Overlap.ReleaseNonOwnedGradients && !zero1.Overlap.ReleaseNonOwnedGradients,
            "ZeRO-2 alone should release the pages of shards it does not own");
        var layout = zero2.Flat.Layout;
        var bufferBytes = layout.TotalNumel * sizeof(float);
        // The shard's huge pages stay whole (pages are returned a whole huge page at a time).
        var hugePage = PageMemory.HugePageBytes / sizeof(float);
        var shardStart = layout.ShardStart(c.Rank) / hugePage * hugePage;
        var shardEnd = Math.Min((layout.ShardStart(c.Rank) + layout.ShardSize + hugePage - 1) / hugePage * hugePage, layout.TotalNumel);
        var bound = (shardEnd - shardStart + layout.Entries.Max(e => e.Numel)
            + (GradientSync.DefaultMaxBucketsInFlight + 2) * buckets.Max(b => b.Length)) * sizeof(float)
            + 2 * PageMemory.HugePageBytes + 4L * Environment.SystemPageSize;
        var peaks1 = new long[steps];
        var peaks2 = new long[steps];
        for (var step = 0; step < steps; step++)
        {
            manual_seed(9000 + 31 * step + c.Rank);
            using var x = randn(16, width);
            using var y = randn(16, width);
            peaks1[step] = zero1.Step(x, y, step);
            peaks2[step] = zero2.Step(x, y, step);
            Check.Equal(zero1.Flat.Values.data<float>().ToArray(), zero2.Flat.Values.data<float>().ToArray(),
                $"rank {c.Rank} step {step}: ZeRO-2 parameters");
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"peak gradient bytes rank {c.Rank}: ZeRO-1 [{string.Join(", ", peaks1)}], ZeRO-2 [{string.Join(", ", peaks2)}], buffer {bufferBytes}, ZeRO-2 bound {bound}, buckets {buckets.Count}"));
        Check.That(peaks1.Min() >= bufferBytes, $"rank {c.Rank}: ZeRO-1 peak {peaks1.Min()} below the buffer's {bufferBytes} bytes");
        Check.That(peaks2.Min() <= bound,
            $"rank {c.Rank}: ZeRO-2 peak resident gradients {peaks2.Min()} bytes in its best step, above the shard's huge pages + a parameter + the buckets in flight and two waiting + two huge pages ({bound}) of a {bufferBytes}-byte buffer");
        return 0;
    }

    /// <summary>One copy of the model with its flat buffers, overlapped reduction and optimizer at one ZeRO stage.</summary>
    private sealed class Trained : IDisposable
    {
        private readonly Mlp _model;
        private readonly ShardedOptimizer _adan;

        public Trained(int layers, int width, ICollective collective, ZeroStage stage, long bucketBytes)
        {
            _model = new Mlp(layers, width);
            Flat = FlatParameters.FromModule(_model, collective.WorldSize);
            Flat.TrackResidentGradientPeak = true;
            Overlap = new GradientSync(Flat, collective, GradientReduction.ReduceScatter, bucketBytes, overlapWith: _model);
            _adan = ShardedOptimizers.Create(Flat, collective, MlpProblem.Options(), 0.5, stage, sync: Overlap);
        }

        public FlatParameters Flat { get; }

        public GradientSync Overlap { get; }

        /// <summary>One step; returns the peak resident gradient bytes from before the forward pass to after the step.</summary>
        public long Step(Tensor x, Tensor y, int step)
        {
            Flat.ZeroGrad();
            Flat.ResetResidentGradientPeak();
            Flat.SampleResidentGradients();
            Overlap.Arm();
            using (var scope = NewDisposeScope())
            {
                nn.functional.mse_loss(_model.call(x), y).backward();
            }
            Check.That(_adan.Step(), $"step {step} was skipped");
            Flat.SampleResidentGradients();
            return Flat.PeakResidentGradientBytes;
        }

        public void Dispose()
        {
            _adan.Dispose();
            Overlap.Dispose();
            Flat.Dispose();
            _model.Dispose();
        }
    }

    /// <summary>LAYERS Linear layers of WIDTH × WIDTH with tanh between them, seeded alike for both copies.</summary>
    private sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<Linear> _layers = new();

        public Mlp(int layers, int width)
            : base("release_mlp")
        {
            manual_seed(5);
            for (var i = 0; i < layers; i++)
            {
                _layers.Add(nn.Linear(width, width));
            }
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var h = input;
            foreach (var layer in _layers)
            {
                h = nn.functional.tanh(layer.call(h));
            }
            return h;
        }
    }
}
