using Adan.MultiRank;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// A save whose shard cannot be written is aborted, never committed: the catalogue is told, the error names the
/// rank, the step and the cause, and the previous checkpoint stays the latest.
/// </summary>
public sealed class SaveFailureTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-save-failure-").FullName;

    [Fact]
    public async Task AShardThatCannotBeWrittenAbortsTheSaveAndKeepsThePreviousCheckpointLatest()
    {
        using var c = new SingleProcessCollective();
        using var model = MlpProblem.Model();
        using var flat = FlatParameters.FromModule(model, 1);
        using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options());
        var progress = new TrainingProgress(0, default, new Dictionary<string, long>());
        using var local = new LocalCheckpointCatalog(_root);
        await ShardedCheckpoint.SaveAsync(local, adan, c, 1, progress);

        var failing = new UnwritableCatalog(local, Path.Combine(_root, "no-such-parent", "step-0000000002"));
        var e = await Assert.ThrowsAsync<CheckpointException>(() => ShardedCheckpoint.SaveAsync(failing, adan, c, 2, progress));
        Assert.Contains("rank 0 could not save step 2", e.Message);
        Assert.Contains("no-such-parent", e.Message);
        Assert.Equal(1, failing.Aborts);
        Assert.Equal(0, failing.Commits);
        Assert.Equal(CheckpointFiles.StepDirectory(_root, 1), await local.LatestAsync());
        Assert.True(CheckpointVerifier.Verify(_root).Ok);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Hands out a directory that does not exist, so the shard's file cannot be created; counts what the save asks.</summary>
    private sealed class UnwritableCatalog(ICheckpointCatalog inner, string directory) : ICheckpointCatalog
    {
        public int Aborts { get; private set; }

        public int Commits { get; private set; }

        public Task<CheckpointTicket> BeginAsync(long step, CancellationToken cancellationToken = default) =>
            Task.FromResult(new CheckpointTicket(step, step, directory));

        public Task ReportShardAsync(CheckpointTicket ticket, CheckpointShard shard, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task CommitAsync(CheckpointTicket ticket, CheckpointManifest manifest, CancellationToken cancellationToken = default)
        {
            Commits++;
            return Task.CompletedTask;
        }

        public Task AbortAsync(CheckpointTicket ticket, string reason, CancellationToken cancellationToken = default)
        {
            Aborts++;
            return Task.CompletedTask;
        }

        public Task<string?> LatestAsync(CancellationToken cancellationToken = default) => inner.LatestAsync(cancellationToken);
    }
}
