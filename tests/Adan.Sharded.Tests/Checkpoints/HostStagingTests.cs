using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Sampling;
using Adan.Sharded.Tests.Nccl;
using Adan.Sharded.Zero;
using Adan.Sharded.Zero.Rules;
using TorchSharp;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// Checkpoints through host staging in one process: forced on CPU tensors, a staged save (synchronous or background)
/// writes the bytes of a direct one and a staged load restores what a direct one does; on a GPU, a run saved from
/// CUDA tensors resumes on CUDA, and its files load on the CPU too. The multi-rank cases (resharding through staging)
/// are in <see cref="CheckpointResumeTests"/>.
/// </summary>
public sealed class HostStagingTests : IDisposable
{
    private const int SaveAt = 3;
    private const int Steps = 6;
    private readonly string _root = Directory.CreateTempSubdirectory("adan-host-staging-").FullName;

    [Theory]
    [InlineData(ZeroStage.OptimizerState)]
    [InlineData(ZeroStage.Replicated)]
    public async Task AStagedSaveWritesTheBytesOfADirectSaveAndAStagedLoadRestoresTheSameState(ZeroStage stage)
    {
        using var collective = new SingleProcessCollective();
        using var run = new Run(torch.CPU, stage, collective);
        run.Train(0, SaveAt);
        using var staging = new HostStaging(run.Adan, 0);
        Assert.False(HostStaging.IsRequired(run.Adan));
        Assert.Equal(torch.cuda.is_available(), staging.Pinned);
        Assert.Equal(4L * (run.Adan.Flat.Layout.ShardSize + 4 * run.Adan.StateLength), staging.Bytes);

        var direct = await ShardedCheckpoint.SaveAsync(new LocalCheckpointCatalog(Root("direct")), run.Adan, collective, SaveAt, Progress(SaveAt));
        var staged = await new CheckpointWriter(new LocalCheckpointCatalog(Root("staged")), collective, staging: staging)
            .SaveAsync(run.Adan, SaveAt, Progress(SaveAt));
        CheckpointManifest background;
        using (var writer = new BackgroundCheckpointWriter(new LocalCheckpointCatalog(Root("background")), collective, run.Adan, hostStaging: staging))
        {
            Assert.Equal(staging.Bytes, writer.StagingBytes);
            await writer.StartAsync(SaveAt, Progress(SaveAt));
            // Training on while the shard is written from the host copy must not change the file.
            run.Train(SaveAt, SaveAt + 1);
            background = (await writer.CompleteAsync())!;
        }
        Assert.Equal(direct.Shards.Select(s => (s.Bytes, s.Sha256)), staged.Shards.Select(s => (s.Bytes, s.Sha256)));
        Assert.Equal(direct.Shards.Select(s => (s.Bytes, s.Sha256)), background.Shards.Select(s => (s.Bytes, s.Sha256)));

        using var directLoad = new Run(torch.CPU, stage, collective);
        using var stagedLoad = new Run(torch.CPU, stage, collective);
        using var loadStaging = new HostStaging(stagedLoad.Adan, 0);
        ShardedCheckpoint.Load(Root("staged"), directLoad.Adan, collective);
        ShardedCheckpoint.Load(Root("direct"), stagedLoad.Adan, collective, loadStaging);
        Assert.Equal(directLoad.Snapshot(), stagedLoad.Snapshot());
        Assert.Equal(run.SnapshotAt(SaveAt), stagedLoad.Snapshot()[0]);
    }

    [Fact]
    public void StagingMadeForAnotherOptimizerIsRefused()
    {
        using var collective = new SingleProcessCollective();
        using var first = new Run(torch.CPU, ZeroStage.OptimizerState, collective);
        using var second = new Run(torch.CPU, ZeroStage.OptimizerState, collective);
        using var staging = new HostStaging(first.Adan, 0);
        var error = Assert.Throws<ArgumentException>(() => new BackgroundCheckpointWriter(new LocalCheckpointCatalog(Root("x")), collective, second.Adan,
            hostStaging: staging));
        Assert.Contains("allocated for another optimizer", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new HostStaging(first.Adan, 1));
    }

    /// <summary>
    /// Saved from CUDA tensors at step 3 (synchronously, and in the background), resumed on CUDA: the resumed run ends
    /// where the uninterrupted one did; the files are the same either way and load into a CPU run as well.
    /// </summary>
    [GpuFact]
    public async Task ACudaRunSavesThroughStagingAndResumesOnCuda()
    {
        var cuda = new torch.Device("cuda:0");
        using var collective = new SingleProcessCollective();
        using var full = new Run(cuda, ZeroStage.OptimizerState, collective);
        Assert.True(HostStaging.IsRequired(full.Adan));
        full.Train(0, SaveAt);
        var sync = await ShardedCheckpoint.SaveAsync(new LocalCheckpointCatalog(Root("sync")), full.Adan, collective, SaveAt, Progress(SaveAt));
        CheckpointManifest background;
        using (var writer = new BackgroundCheckpointWriter(new LocalCheckpointCatalog(Root("background")), collective, full.Adan))
        {
            await writer.StartAsync(SaveAt, Progress(SaveAt));
            full.Train(SaveAt, Steps);
            background = (await writer.CompleteAsync())!;
        }
        Assert.Equal(sync.Shards.Select(s => (s.Bytes, s.Sha256)), background.Shards.Select(s => (s.Bytes, s.Sha256)));

        using var resumed = new Run(cuda, ZeroStage.OptimizerState, collective);
        using var staging = new HostStaging(resumed.Adan, 0);
        Assert.True(staging.Pinned);
        Assert.Equal(SaveAt, ShardedCheckpoint.Load(Root("background"), resumed.Adan, collective, staging).Step);
        Assert.Equal(full.SnapshotAt(SaveAt), resumed.Snapshot()[0]);
        resumed.Train(SaveAt, Steps);
        var expected = full.Snapshot();
        var actual = resumed.Snapshot();
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            Assert.True(expected[i].Zip(actual[i]).All(p => Math.Abs(p.First - p.Second) <= 1e-6 + 1e-5 * Math.Abs(p.First)),
                $"buffer {i} of the resumed CUDA run differs from the uninterrupted one");
        }

        using var onCpu = new Run(torch.CPU, ZeroStage.OptimizerState, collective);
        ShardedCheckpoint.Load(Root("sync"), onCpu.Adan, collective);
        Assert.Equal(full.SnapshotAt(SaveAt), onCpu.Snapshot()[0]);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Root(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    private static TrainingProgress Progress(long step) => new(step, new SamplerPosition(0, step), new Dictionary<string, long> { ["seed"] = 7 });

    /// <summary>A small MLP trained with ShardedOptimizer on one device, on batches fixed by the step number.</summary>
    private sealed class Run : IDisposable
    {
        private readonly torch.nn.Module<torch.Tensor, torch.Tensor> _model;
        private readonly FlatParameters _flat;
        private readonly torch.Device _device;
        private readonly Dictionary<long, float[]> _parametersAt = [];

        public Run(torch.Device device, ZeroStage stage, ICollective collective)
        {
            _device = device;
            torch.manual_seed(11);
            _model = torch.nn.Sequential(("fc1", torch.nn.Linear(10, 33)), ("relu", torch.nn.ReLU()), ("fc2", torch.nn.Linear(33, 5)));
            _model.to(device);
            _flat = FlatParameters.FromModule(_model, collective.WorldSize);
            Adan = ShardedOptimizers.Create(_flat, collective, new AdanGroupOptions { LearningRate = 0.01, WeightDecay = 0.02 }, maxGradNorm: 1.0, stage);
        }

        public ShardedOptimizer Adan { get; }

        public void Train(long from, long to)
        {
            for (var step = from; step < to; step++)
            {
                using var scope = torch.NewDisposeScope();
                var generator = new torch.Generator((ulong)(100 + step));
                var x = torch.randn([16, 10], generator: generator).to(_device);
                var y = torch.randn([16, 5], generator: generator).to(_device);
                _flat.ZeroGrad();
                torch.nn.functional.mse_loss(_model.call(x), y).backward();
                Assert.True(Adan.Step(), "a finite step was skipped");
                _parametersAt[step + 1] = _flat.Values.cpu().data<float>().ToArray();
            }
        }

        /// <summary>The flat parameters after <paramref name="step"/> steps of this run.</summary>
        public float[] SnapshotAt(long step) => _parametersAt[step];

        /// <summary>The flat parameters, then the four state buffers, copied to the host.</summary>
        public float[][] Snapshot() =>
            [_flat.Values.cpu().data<float>().ToArray(), .. AdanRule.Names.Select(n => Adan.StateBuffer(n).cpu().data<float>().ToArray())];

        public void Dispose()
        {
            Adan.Dispose();
            _flat.Dispose();
            _model.Dispose();
        }
    }
}
