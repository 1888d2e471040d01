using Adan.MultiRank;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// The background writer's protocol on one rank: a poll never waits for the write, a save started while the previous
/// one is still writing waits for it and commits it first, and the staging copy is what gets saved, not the live
/// state that training changes afterwards.
/// </summary>
public sealed class BackgroundCheckpointWriterTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-background-save-").FullName;

    [Fact]
    public async Task ASaveStartedWhileThePreviousIsWritingWaitsForItAndBothCommitInOrder()
    {
        using var c = new SingleProcessCollective();
        using var model = MlpProblem.Model();
        using var flat = FlatParameters.FromModule(model, 1);
        using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options());
        using var local = new LocalCheckpointCatalog(_root);
        var gated = new GatedCatalog(local);
        using var writer = new BackgroundCheckpointWriter(gated, c, adan);
        Assert.InRange(writer.StagingBytes, 5 * flat.Layout.ShardSize * sizeof(float), 5 * flat.Layout.ShardSize * sizeof(float) + 16384);
        var progress = new TrainingProgress(0, default, new Dictionary<string, long>());

        Assert.Null(await writer.StartAsync(1, progress));
        Assert.Equal(1, writer.PendingStep);
        // The shard is being written (held at its report): a poll returns at once and commits nothing.
        Assert.Null(await writer.PollAsync());
        Assert.Empty(gated.Commits);

        var second = Task.Run(() => writer.StartAsync(2, progress));
        await gated.Reported.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.False(second.IsCompleted, "the second save must wait for the first one's write");
        gated.Open();
        var committedFirst = await second.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(1, committedFirst?.Step);
        Assert.Equal([1L], gated.Commits);
        Assert.Equal(2, writer.PendingStep);

        var committedSecond = await writer.CompleteAsync();
        Assert.Equal(2, committedSecond?.Step);
        Assert.Equal([1L, 2L], gated.Commits);
        Assert.Null(writer.PendingStep);
        Assert.Equal(CheckpointFiles.StepDirectory(_root, 2), await local.LatestAsync());
        Assert.True(CheckpointVerifier.Verify(_root).Ok);
    }

    [Fact]
    public async Task TheCheckpointHoldsTheStateAtTheSaveEvenWhenTrainingChangesItDuringTheWrite()
    {
        using var c = new SingleProcessCollective();
        using var model = MlpProblem.Model();
        using var flat = FlatParameters.FromModule(model, 1);
        using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options());
        using var local = new LocalCheckpointCatalog(_root);
        var gated = new GatedCatalog(local);
        using var writer = new BackgroundCheckpointWriter(gated, c, adan);
        var progress = new TrainingProgress(0, default, new Dictionary<string, long>());
        var saved = flat.Values.clone();

        await writer.StartAsync(1, progress);
        // Training goes on while the shard is written: the live parameters change.
        flat.Values.add_(1.0f);
        gated.Open();
        await writer.CompleteAsync();

        using var restoredModel = MlpProblem.Model();
        using var restoredFlat = FlatParameters.FromModule(restoredModel, 1);
        using var restored = ShardedOptimizers.Create(restoredFlat, c, MlpProblem.Options());
        ShardedCheckpoint.Load(_root, restored, c);
        var maxDiff = (restoredFlat.Values - saved).abs().max().item<float>();
        Assert.True(maxDiff == 0, $"max |restored - saved| = {maxDiff}");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Holds every shard report until <see cref="Open"/>, and records the steps committed, in order.</summary>
    private sealed class GatedCatalog(ICheckpointCatalog inner) : ICheckpointCatalog
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _reported = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<long> Commits { get; } = [];

        /// <summary>Completes when the first shard report arrives (and is held).</summary>
        public Task Reported => _reported.Task;

        public void Open() => _gate.TrySetResult();

        public Task<CheckpointTicket> BeginAsync(long step, CancellationToken cancellationToken = default) => inner.BeginAsync(step, cancellationToken);

        public async Task ReportShardAsync(CheckpointTicket ticket, CheckpointShard shard, CancellationToken cancellationToken = default)
        {
            _reported.TrySetResult();
            await _gate.Task;
            await inner.ReportShardAsync(ticket, shard, cancellationToken);
        }

        public async Task CommitAsync(CheckpointTicket ticket, CheckpointManifest manifest, CancellationToken cancellationToken = default)
        {
            await inner.CommitAsync(ticket, manifest, cancellationToken);
            Commits.Add(manifest.Step);
        }

        public Task AbortAsync(CheckpointTicket ticket, string reason, CancellationToken cancellationToken = default) =>
            inner.AbortAsync(ticket, reason, cancellationToken);

        public Task<string?> LatestAsync(CancellationToken cancellationToken = default) => inner.LatestAsync(cancellationToken);
    }
}
