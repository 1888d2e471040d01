using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.DataParallel;

/// <summary>
/// <see cref="GradientSync"/> overlapped with backward in one process: when it launches a bucket, backward has finished
/// writing it; it communicates only in the armed (last) micro-batch; modules it cannot track are launched at the end.
/// </summary>
public class GradientSyncTests
{
    /// <summary>Convolutions as the trainer runs them (onednn=false): oneDNN's backward is wrong on some CPUs (AMD Zen 5).</summary>
    public GradientSyncTests() => Adan.Sharded.Tensors.OneDnn.Enabled = false;

    [Fact]
    public void NoBucketChangesAfterItsLaunch()
    {
        set_num_threads(1);
        using var model = new Net(useCall: true);
        using var flat = FlatParameters.FromModule(model, 1);
        using var collective = new CountingCollective();
        using var overlap = new GradientSync(flat, collective, GradientReduction.AllReduce, bucketBytes: 64, overlapWith: model);
        // Snapshot each bucket as it is launched; the final gradients must equal every snapshot.
        var snapshots = new List<(Tensor View, Tensor Copy)>();
        collective.Launched = view => snapshots.Add((view, view.clone()));
        for (var step = 0; step < 2; step++)
        {
            snapshots.Clear();
            flat.ZeroGrad();
            overlap.Arm();
            Net.Loss(model, step).backward();
            var duringBackward = snapshots.Count;
            overlap.Synchronize();
            Assert.True(duringBackward > overlap.Buckets.Count / 2, $"only {duringBackward} of {overlap.Buckets.Count} buckets launched during backward");
            Assert.Equal(duringBackward, overlap.LastLaunchedDuringBackward);
            Assert.Equal(overlap.Buckets.Count, snapshots.Count);
            foreach (var (view, copy) in snapshots)
            {
                var diff = (view - copy).abs().max().item<float>();
                Assert.True(diff == 0, $"a bucket changed by {diff} after it was launched");
            }
        }
        // Linear, Conv2d, BatchNorm2d, LayerNorm and a Linear called twice all have the hook.
        Assert.Equal(5, overlap.HookedModules);
    }

    [Fact]
    public void AccumulationCommunicatesOnlyInTheLastMicroBatch()
    {
        set_num_threads(1);
        using var model = new Net(useCall: true);
        using var flat = FlatParameters.FromModule(model, 1);
        using var collective = new CountingCollective();
        using var overlap = new GradientSync(flat, collective, GradientReduction.ReduceScatter, bucketBytes: 64, overlapWith: model);
        using var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions(), stage: ZeroStage.OptimizerState, sync: overlap);
        for (var step = 0; step < 2; step++)
        {
            flat.ZeroGrad();
            for (var m = 0; m < 3; m++)
            {
                if (m == 2)
                {
                    overlap.Arm();
                }
                Net.Loss(model, 3 * step + m).backward();
                if (m < 2)
                {
                    Assert.Equal(step * overlap.Buckets.Count, collective.Requests);
                }
            }
            Assert.True(collective.Requests > step * overlap.Buckets.Count, "nothing was launched while the last backward ran");
            Assert.True(adan.Step(3));
            Assert.Equal((step + 1) * overlap.Buckets.Count, collective.Requests);
        }
    }

    [Fact]
    public void ModulesRunWithoutTheirHooksAreLaunchedAtTheEndWithTheSameResult()
    {
        set_num_threads(1);
        using var tracked = new Net(useCall: true);
        using var untracked = new Net(useCall: false);
        using var flatTracked = FlatParameters.FromModule(tracked, 1);
        using var flatUntracked = FlatParameters.FromModule(untracked, 1);
        using var collective = new CountingCollective();
        using var overlap = new GradientSync(flatUntracked, collective, GradientReduction.AllReduce, bucketBytes: 64, overlapWith: untracked);
        overlap.Arm();
        Net.Loss(untracked, 0).backward();
        Assert.Equal(0, collective.Requests);
        overlap.Synchronize();
        Assert.Equal(overlap.Buckets.Count, collective.Requests);
        Net.Loss(tracked, 0).backward();
        Assert.True(flatTracked.Gradients.eq(flatUntracked.Gradients).all().item<bool>(), "the gradients differ");
    }

    [Fact]
    public void MisuseIsRefusedWithTheFixNamed()
    {
        using var model = new Net(useCall: true);
        using var collective = new CountingCollective();
        using var tracking = FlatParameters.FromModule(model, 1, trackUnusedParameters: true);
        Assert.Contains("trackUnusedParameters", Assert.Throws<ArgumentException>(() =>
            new GradientSync(tracking, collective, GradientReduction.AllReduce, overlapWith: model)).Message);
        // Without overlap the gradients are gathered into the buffer before the reduction: tracking is fine.
        new GradientSync(tracking, collective, GradientReduction.AllReduce).Dispose();
        tracking.Dispose();
        using var flat = FlatParameters.FromModule(model, 1);
        using var allReduce = new GradientSync(flat, collective, GradientReduction.AllReduce, overlapWith: model);
        Assert.Contains("GradientReduction.ReduceScatter", Assert.Throws<ArgumentException>(() =>
            ShardedOptimizers.Create(flat, collective, new AdanGroupOptions(), stage: ZeroStage.Gradients, sync: allReduce)).Message);
        Assert.Contains("reduce-scatter", Assert.Throws<InvalidOperationException>(() => allReduce.ReleaseNonOwnedGradients = true).Message);
        using var afterBackward = new GradientSync(flat, collective, GradientReduction.ReduceScatter);
        Assert.Contains("overlapWith: model", Assert.Throws<InvalidOperationException>(afterBackward.Arm).Message);
        Assert.Equal(GradientSync.DefaultMaxBucketsInFlight, allReduce.MaxBucketsInFlight);
        Assert.Contains("at least one bucket", Assert.Throws<ArgumentOutOfRangeException>(() => allReduce.MaxBucketsInFlight = 0).Message);
        allReduce.MaxBucketsInFlight = 8;
        Assert.Equal(8, allReduce.MaxBucketsInFlight);
    }

    [Fact]
    public void TheEngineBuildsTheSyncOfItsStageWhenGivenNone()
    {
        using var model = new Net(useCall: true);
        using var flat = FlatParameters.FromModule(model, 1);
        using var collective = new CountingCollective();
        foreach (var (stage, reduction) in new[]
                 {
                     (ZeroStage.Replicated, GradientReduction.AllReduce), (ZeroStage.OptimizerState, GradientReduction.ReduceScatter),
                     (ZeroStage.Gradients, GradientReduction.ReduceScatter),
                 })
        {
            using var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions(), stage: stage);
            var sync = adan.GradientSync;
            Assert.Equal(reduction, sync.Reduction);
            Assert.Equal(stage == ZeroStage.Gradients, sync.ReleaseNonOwnedGradients);
            Assert.False(sync.OverlapsBackward);
            Assert.Equal(0.25, sync.Synchronize(4));
        }
        Assert.Equal(0, collective.Requests);
    }

    /// <summary>Conv2d → BatchNorm2d → Linear → LayerNorm → the same Linear twice, with a residual.</summary>
    private sealed class Net : nn.Module<Tensor, Tensor>
    {
        private readonly bool _useCall;
        private readonly Conv2d _conv;
        private readonly BatchNorm2d _norm;
        private readonly Linear _in;
        private readonly LayerNorm _layerNorm;
        private readonly Linear _shared;

        public Net(bool useCall)
            : base("overlap_net")
        {
            _useCall = useCall;
            manual_seed(9);
            _conv = nn.Conv2d(1, 3, 3, padding: 1);
            _norm = nn.BatchNorm2d(3);
            _in = nn.Linear(48, 20);
            _layerNorm = nn.LayerNorm(20);
            _shared = nn.Linear(20, 20);
            RegisterComponents();
        }

        public static Tensor Loss(Net model, int batch)
        {
            manual_seed(100 + batch);
            var x = randn(5, 1, 4, 4).requires_grad_(batch % 2 == 0);
            return model.call(x).pow(2).mean();
        }

        public override Tensor forward(Tensor input)
        {
            var x = nn.functional.relu(Run(_norm, Run(_conv, input))).flatten(1);
            x = Run(_layerNorm, Run(_in, x));
            var r = nn.functional.tanh(Run(_shared, x)) + x;
            return Run(_shared, r);
        }

        private Tensor Run(nn.Module<Tensor, Tensor> module, Tensor x) => _useCall ? module.call(x) : module.forward(x);
    }

    /// <summary>A single-process collective that counts nonblocking launches and shows each launched buffer.</summary>
    private sealed class CountingCollective : ICollective
    {
        private readonly SingleProcessCollective _inner = new();

        public Action<Tensor>? Launched { get; set; }

        public int Requests { get; private set; }

        public int Rank => 0;

        public int WorldSize => 1;

        public torch.Device Device => torch.CPU;

        public void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum) => _inner.AllReduce(tensor, op);

        public ICollectiveRequest AllReduceAsync(Tensor tensor, ReduceOp op = ReduceOp.Sum)
        {
            Requests++;
            Launched?.Invoke(tensor);
            return _inner.AllReduceAsync(tensor, op);
        }

        public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum) => _inner.ReduceScatter(input, output, op);

        public ICollectiveRequest ReduceScatterAsync(Tensor buffer, int[] counts, ReduceOp op = ReduceOp.Sum)
        {
            Requests++;
            Launched?.Invoke(buffer);
            return _inner.ReduceScatterAsync(buffer, counts, op);
        }

        public void AllGather(Tensor input, Tensor output) => _inner.AllGather(input, output);

        public void Broadcast(Tensor tensor, int root = 0) => _inner.Broadcast(tensor, root);

        public void Barrier() => _inner.Barrier();

        public void SleepingBarrier() => _inner.SleepingBarrier();

        public double AllReduce(double value, ReduceOp op = ReduceOp.Sum) => _inner.AllReduce(value, op);

        public void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum) => _inner.AllReduce(values, op);

        public void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum) => _inner.AllReduce(values, op);

        [System.Diagnostics.CodeAnalysis.DoesNotReturn]
        public void Abort(int errorCode) => _inner.Abort(errorCode);

        public void Dispose() => _inner.Dispose();
    }
}
