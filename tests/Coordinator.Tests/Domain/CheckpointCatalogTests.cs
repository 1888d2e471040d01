using Adan.Coordinator.Domain;
using Adan.Sharded.Checkpoints;
using Adan.TestSupport;

namespace Adan.Coordinator.Tests.Domain;

/// <summary>The two-phase commit on the domain types alone, with the typed manifest the worker sends.</summary>
public sealed class CheckpointCatalogTests
{
    private const string Job = DomainFixture.Job;

    private static CoordinatorException Refused(CoordinatorErrorKind kind, Action call)
    {
        var error = Assert.Throws<CoordinatorException>(call);
        Assert.Equal(kind, error.Kind);
        return error;
    }

    private static CheckpointRecord Commit(DomainFixture d, CheckpointRecord checkpoint) =>
        d.Checkpoints.Commit(Job, checkpoint.Id, TestManifests.Create(checkpoint.Step, checkpoint.WorldSize));

    [Fact]
    public void EveryRankGetsTheOpenCheckpointAndCommitWaitsForEveryShard()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(3);
        var events = d.Jobs.Subscribe(Job, out _);
        var partial = d.WriteShards(step: 100, worldSize: 3, ranks: 2);
        Assert.Equal(partial.Id, d.Checkpoints.Begin(Job, 100, null).Id);
        Assert.Equal(CheckpointFiles.StepDirectory(Path.Combine(d.Options.CheckpointRoot, Job), 100), partial.Directory);
        var early = Refused(CoordinatorErrorKind.FailedPrecondition, () => Commit(d, partial));
        Assert.Contains("missing ranks 2", early.Message);
        Assert.Null(d.Checkpoints.Latest(Job));

        var full = d.WriteShards(step: 100, worldSize: 3, ranks: 3, firstRank: 2);
        d.Time.Advance(TimeSpan.FromMinutes(5));
        var committed = Commit(d, full);

        Assert.Equal(CheckpointState.Committed, committed.State);
        Assert.Equal(d.Time.GetUtcNow(), committed.CommittedAt);
        Assert.Equal(committed.Id, d.Checkpoints.Latest(Job)!.Id);
        var manifest = CheckpointManifest.Read(committed.Directory);
        Assert.Equal((Job, committed.Id, 100L, 3), (manifest.JobId, manifest.CheckpointId, manifest.Step, manifest.WorldSize));
        Assert.Equal(committed.Shards, manifest.Shards);
        // Committing again (a retry whose reply was lost) returns the same commit.
        Assert.Equal(committed.Id, Commit(d, full).Id);
        var published = new List<JobEvent>();
        while (events.TryRead(out var jobEvent))
        {
            published.Add(jobEvent);
        }
        Assert.Single(published, e => e.Kind == JobEventKind.CheckpointCommitted && e.Step == 100);
    }

    [Fact]
    public void ShardReportsAreCheckedAndAnIdenticalRetryIsHarmless()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(2);
        var checkpoint = d.Checkpoints.Begin(Job, 10, null);
        var shard = DomainFixture.WriteShard(checkpoint, 0, 2);
        Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.ReportShard(Job, checkpoint.Id, shard with { Rank = 2 }));
        Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.ReportShard(Job, checkpoint.Id, shard with { File = "../x" }));
        Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.ReportShard(Job, checkpoint.Id, shard with { File = CheckpointManifest.FileName }));
        Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.ReportShard(Job, checkpoint.Id, shard with { Bytes = -1 }));
        Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.ReportShard(Job, checkpoint.Id, shard with { Sha256 = "ABC" }));
        Refused(CoordinatorErrorKind.NotFound, () => d.Checkpoints.ReportShard(Job, checkpoint.Id + 1, shard));

        Assert.Equal(new ShardProgress(1, 2), d.Checkpoints.ReportShard(Job, checkpoint.Id, shard));
        Assert.Equal(new ShardProgress(1, 2), d.Checkpoints.ReportShard(Job, checkpoint.Id, shard));
        var twoWriters = Refused(CoordinatorErrorKind.AlreadyExists, () => d.Checkpoints.ReportShard(Job, checkpoint.Id, shard with { Bytes = 1 }));
        Assert.Contains("rank 0 already reported", twoWriters.Message);
    }

    [Fact]
    public void BeginNeedsARunningJobAValidStepAndAnAbsoluteRoot()
    {
        using var d = DomainFixture.Create();
        d.Jobs.Join(Job, 0, 2, "h", 1, null);
        Refused(CoordinatorErrorKind.FailedPrecondition, () => d.Checkpoints.Begin(Job, 1, null));
        d.Jobs.Join(Job, 1, 2, "h", 2, null);
        Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.Begin(Job, -1, null));
        Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.Begin(Job, 1, "relative/root"));
        Refused(CoordinatorErrorKind.NotFound, () => d.Checkpoints.Begin("other", 1, null));
        Commit(d, d.WriteShards(5, 2, 2));
        var again = Refused(CoordinatorErrorKind.AlreadyExists, () => d.Checkpoints.Begin(Job, 5, null));
        Assert.Contains("already committed", again.Message);
    }

    [Fact]
    public void AbortKeepsThePreviousCheckpointLatest()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(2);
        var first = Commit(d, d.WriteShards(10, 2, 2));
        var second = d.WriteShards(20, 2, 2);
        Assert.Equal(CheckpointState.Aborted, d.Checkpoints.Abort(Job, second.Id, "test").State);
        Assert.Equal(CheckpointState.Aborted, d.Checkpoints.Abort(Job, second.Id, "again").State);
        Refused(CoordinatorErrorKind.FailedPrecondition, () => Commit(d, second));
        Refused(CoordinatorErrorKind.FailedPrecondition, () => d.Checkpoints.Abort(Job, first.Id, "too late"));
        Assert.Equal(first.Id, d.Checkpoints.Latest(Job)!.Id);
        Assert.False(File.Exists(Path.Combine(second.Directory, CheckpointManifest.FileName)));
    }

    [Theory]
    [InlineData("step")]
    [InlineData("world_size")]
    [InlineData("job_id")]
    [InlineData("checkpoint_id")]
    [InlineData("shards")]
    public void AManifestDisagreeingWithTheCatalogueIsRefused(string field)
    {
        using var d = DomainFixture.Create();
        d.JoinAll(1);
        var checkpoint = d.WriteShards(5, 1, 1);
        var agreeing = TestManifests.Create(checkpoint.Step, checkpoint.WorldSize);
        var manifest = field switch
        {
            "step" => agreeing with { Step = checkpoint.Step + 1 },
            "world_size" => agreeing with { WorldSize = checkpoint.WorldSize + 1 },
            "job_id" => agreeing with { JobId = "other" },
            "checkpoint_id" => agreeing with { CheckpointId = checkpoint.Id + 1 },
            _ => agreeing with { Shards = [new CheckpointShard(0, "other.safetensors", 1, new string('0', 64))] },
        };
        var error = Refused(CoordinatorErrorKind.InvalidArgument, () => d.Checkpoints.Commit(Job, checkpoint.Id, manifest));
        Assert.Contains($"'{field}'", error.Message);
        Assert.Null(d.Checkpoints.Latest(Job));
        Assert.False(CheckpointFiles.IsCommitted(checkpoint.Directory));
    }

    [Fact]
    public async Task RetentionDeletesOnlyOlderCommittedCheckpoints()
    {
        using var d = DomainFixture.Create(keepLast: 2);
        d.JoinAll(2);
        var open = d.WriteShards(5, 2, 1);
        var committed = new long[] { 10, 20, 30, 40 }.Select(step => Commit(d, d.WriteShards(step, 2, 2))).ToList();
        await d.Checkpoints.WhenRetentionDone();
        Assert.Equal([CheckpointState.Open, CheckpointState.Deleted, CheckpointState.Deleted, CheckpointState.Committed, CheckpointState.Committed],
            d.Checkpoints.List(Job).Select(c => c.State));
        Assert.False(Directory.Exists(committed[0].Directory));
        Assert.False(Directory.Exists(committed[1].Directory));
        Assert.True(File.Exists(committed[3].ManifestPath));
        Assert.True(Directory.Exists(open.Directory));
        Assert.Equal(40, d.Checkpoints.Latest(Job)!.Step);
    }

    [Fact]
    public void ACheckpointWhoseManifestIsGoneIsDeletedAndLatestFallsBack()
    {
        using var d = DomainFixture.Create(keepLast: 0);
        d.JoinAll(2);
        var older = Commit(d, d.WriteShards(10, 2, 2));
        var newer = Commit(d, d.WriteShards(20, 2, 2));
        Directory.Delete(newer.Directory, recursive: true);
        Assert.Equal(older.Id, d.Checkpoints.Latest(Job)!.Id);
        var deleted = d.Checkpoints.List(Job)[^1];
        Assert.Equal((CheckpointState.Deleted, newer.CommittedAt), (deleted.State, deleted.CommittedAt));
    }

    [Fact]
    public void JobFailureAbortsOpenCheckpoints()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(2);
        var open = d.WriteShards(10, 2, 2);
        d.Time.Advance(d.Options.HeartbeatTimeout * 2);
        d.Jobs.CheckTimeouts();
        Assert.Equal(CheckpointState.Aborted, d.Checkpoints.List(Job).Single().State);
        Refused(CoordinatorErrorKind.FailedPrecondition, () => Commit(d, open));
        Assert.Null(d.Checkpoints.Latest(Job));
    }

    [Fact]
    public void RestartServesTheSameCatalogueAndFinishesTheOpenCheckpoint()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(2);
        var committed = Commit(d, d.WriteShards(10, 2, 2));
        var open = d.WriteShards(20, 2, 1);

        d.Restart();

        Assert.Equal(committed.Id, d.Checkpoints.Latest(Job)!.Id);
        Assert.Equal(committed.CommittedAt, d.Checkpoints.Latest(Job)!.CommittedAt);
        var again = d.Checkpoints.Begin(Job, 20, null);
        Assert.Equal(open.Id, again.Id);
        Assert.Equal(open.Shards, again.Shards);
        d.Checkpoints.ReportShard(Job, again.Id, DomainFixture.WriteShard(again, 1, 2));
        Assert.Equal(CheckpointState.Committed, Commit(d, again).State);
        Assert.Equal(20, d.Checkpoints.Latest(Job)!.Step);
    }
}
