using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Adan.Coordinator.V1;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Coordinator.Tests;

public sealed class CheckpointTests
{
    private const string Job = "job";

    /// <summary>Every rank begins, writes a shard file and reports it, as the worker's checkpoint writer will.</summary>
    private static async Task<CheckpointInfo> WriteShardsAsync(TestCoordinator c, long step, int worldSize, int ranks, int firstRank = 0)
    {
        CheckpointInfo? info = null;
        for (var rank = firstRank; rank < ranks; rank++)
        {
            info = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = Job, Step = step }, c.Headers);
            var file = $"shard-{rank:D5}-of-{worldSize:D5}.safetensors";
            var bytes = new byte[100 + rank];
            Random.Shared.NextBytes(bytes);
            await File.WriteAllBytesAsync(Path.Combine(info.Directory, file), bytes);
            await c.Checkpoints.ReportShardAsync(new ReportShardRequest
            {
                JobId = Job,
                CheckpointId = info.CheckpointId,
                Shard = new ShardInfo { Rank = rank, File = file, Bytes = bytes.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) },
            }, c.Headers);
        }
        return info!;
    }

    private static Task<CheckpointInfo> CommitAsync(TestCoordinator c, CheckpointInfo info, string? body = null) =>
        c.Checkpoints.CommitAsync(new CommitCheckpointRequest
        {
            JobId = Job,
            CheckpointId = info.CheckpointId,
            ManifestJson = body ?? TestManifests.Create(info.Step, info.WorldSize).ToJson(),
        }, c.Headers).ResponseAsync;

    private static async Task<CheckpointInfo?> LatestAsync(TestCoordinator c) =>
        (await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = Job }, c.Headers)).Checkpoint;

    [Fact]
    public async Task CommitsOnlyAfterEveryShardAndWritesTheManifest()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 3);
        var partial = await WriteShardsAsync(c, step: 100, worldSize: 3, ranks: 2);
        var early = await Assert.ThrowsAsync<RpcException>(() => CommitAsync(c, partial));
        Assert.Equal(StatusCode.FailedPrecondition, early.StatusCode);
        Assert.Contains("missing ranks 2", early.Status.Detail);
        Assert.Null(await LatestAsync(c));
        Assert.False(File.Exists(Path.Combine(partial.Directory, "manifest.json")));

        var full = await WriteShardsAsync(c, step: 100, worldSize: 3, ranks: 3, firstRank: 2);
        Assert.Equal(partial.CheckpointId, full.CheckpointId);
        var committed = await CommitAsync(c, full);
        Assert.Equal(CheckpointState.Committed, committed.State);
        Assert.Equal(committed.CheckpointId, (await LatestAsync(c))!.CheckpointId);

        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(committed.ManifestPath))!.AsObject();
        Assert.Equal(Adan.Sharded.Checkpoints.CheckpointManifest.CurrentFormatVersion, (int)manifest["format_version"]!);
        Assert.Equal(100, (long)manifest["step"]!);
        Assert.Equal(3, (int)manifest["world_size"]!);
        var shards = manifest["shards"]!.AsArray();
        Assert.Equal(3, shards.Count);
        Assert.Equal("shard-00002-of-00003.safetensors", (string)shards[2]!["file"]!);
        Assert.Equal(102, (long)shards[2]!["bytes"]!);
    }

    [Fact]
    public async Task AbortKeepsThePreviousCheckpointLatest()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 2);
        var first = await CommitAsync(c, await WriteShardsAsync(c, 10, 2, 2));
        var second = await WriteShardsAsync(c, 20, 2, 2);
        await c.Checkpoints.AbortAsync(new AbortCheckpointRequest { JobId = Job, CheckpointId = second.CheckpointId, Reason = "test" }, c.Headers);
        var error = await Assert.ThrowsAsync<RpcException>(() => CommitAsync(c, second));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal(first.CheckpointId, (await LatestAsync(c))!.CheckpointId);
        Assert.False(File.Exists(Path.Combine(second.Directory, "manifest.json")));
    }

    [Fact]
    public async Task ManifestDisagreeingWithTheCatalogueIsRejected()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 1);
        var info = await WriteShardsAsync(c, 5, 1, 1);
        var error = await Assert.ThrowsAsync<RpcException>(() => CommitAsync(c, info, TestManifests.Create(6, 1).ToJson()));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("'step'", error.Status.Detail);
        Assert.Null(await LatestAsync(c));
    }

    [Fact]
    public async Task RetentionDeletesOnlyOlderCommittedCheckpoints()
    {
        await using var c = await TestCoordinator.StartAsync(keepLast: 2);
        await c.JoinAllAsync(Job, 2);
        var open = await WriteShardsAsync(c, 5, 2, 1);
        var committed = new List<CheckpointInfo>();
        foreach (var step in new long[] { 10, 20, 30, 40 })
        {
            committed.Add(await CommitAsync(c, await WriteShardsAsync(c, step, 2, 2)));
        }
        var list = (await c.Checkpoints.ListAsync(new ListCheckpointsRequest { JobId = Job }, c.Headers)).Checkpoints;
        await c.WhenRetentionDone();
        Assert.Equal([CheckpointState.Open, CheckpointState.Deleted, CheckpointState.Deleted, CheckpointState.Committed, CheckpointState.Committed],
            list.Select(i => i.State));
        Assert.False(Directory.Exists(committed[0].Directory));
        Assert.False(Directory.Exists(committed[1].Directory));
        Assert.True(File.Exists(committed[3].ManifestPath));
        Assert.True(Directory.Exists(open.Directory));
        Assert.Equal(40, (await LatestAsync(c))!.Step);
    }

    [Fact]
    public async Task ACheckpointWhoseManifestIsGoneIsDeletedAndLatestFallsBack()
    {
        await using var c = await TestCoordinator.StartAsync(keepLast: 0);
        await c.JoinAllAsync(Job, 2);
        var older = await CommitAsync(c, await WriteShardsAsync(c, 10, 2, 2));
        var newer = await CommitAsync(c, await WriteShardsAsync(c, 20, 2, 2));
        // The job's own retention (or a person) deleted the newer one behind the coordinator's back.
        Directory.Delete(newer.Directory, recursive: true);

        Assert.Equal(older.CheckpointId, (await LatestAsync(c))!.CheckpointId);
        var list = (await c.Checkpoints.ListAsync(new ListCheckpointsRequest { JobId = Job }, c.Headers)).Checkpoints;
        Assert.Equal([CheckpointState.Committed, CheckpointState.Deleted], list.Select(i => i.State));
    }

    [Fact]
    public async Task BeginRefusesADirectoryCommittedByAnotherRun()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 2);
        var committed = await CommitAsync(c, await WriteShardsAsync(c, 10, 2, 2));
        var manifest = await File.ReadAllTextAsync(committed.ManifestPath);

        // A new coordinator (as every adan launch starts) knows nothing of that checkpoint; the manifest on disk decides.
        var root = Path.GetDirectoryName(committed.Directory)!;
        await using var other = await TestCoordinator.StartAsync(checkpointRoots: [root]);
        await other.JoinAllAsync(Job, 2);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await other.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = Job, Step = 10, CheckpointRoot = root }, other.Headers));
        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        Assert.Contains("never overwritten", e.Status.Detail);
        Assert.Equal(manifest, await File.ReadAllTextAsync(committed.ManifestPath));
    }

    [Fact]
    public async Task RestartServesTheSameCatalogue()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 2);
        var committed = await CommitAsync(c, await WriteShardsAsync(c, 10, 2, 2));
        var open = await WriteShardsAsync(c, 20, 2, 1);

        await c.RestartAsync();

        Assert.Equal(committed.CheckpointId, (await LatestAsync(c))!.CheckpointId);
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = Job }, c.Headers);
        Assert.Equal(JobState.Running, status.State);
        Assert.Equal(2, status.Members.Count);
        Assert.Equal(10, status.LatestCheckpointStep);
        // The rank that had not reported yet finishes the open checkpoint after the restart.
        await using var client = c.Client(Job, 1, 2);
        var again = await client.BeginCheckpointAsync(20);
        Assert.Equal(open.CheckpointId, again.CheckpointId);
        var bytes = new byte[] { 1, 2, 3 };
        await File.WriteAllBytesAsync(Path.Combine(again.Directory, "shard-00001-of-00002.safetensors"), bytes);
        await client.ReportShardAsync(again.CheckpointId, "shard-00001-of-00002.safetensors", 3, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        var second = await client.CommitCheckpointAsync(again.CheckpointId, TestManifests.Create(20, 2));
        Assert.Equal(20, (await client.LatestCheckpointAsync())!.Step);
        Assert.Equal(CheckpointState.Committed, second.State);
    }

    [Fact]
    public async Task JobFailureAbortsOpenCheckpoints()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 2);
        var open = await WriteShardsAsync(c, 10, 2, 2);
        using var watch = await c.WatchAsync(Job);
        c.Time.Advance(c.HeartbeatTimeout * 2);
        // Open checkpoints are aborted before watchers hear of the failure, so a commit after the event must fail.
        await TestCoordinator.NextAsync(watch, JobEventKind.JobFailed);
        var error = await Assert.ThrowsAsync<RpcException>(() => CommitAsync(c, open));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Null(await LatestAsync(c));
    }

    [Fact]
    public async Task CommittingAgainWithTheSameManifestSucceedsAndWithAnotherIsRefused()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 2);
        var info = await WriteShardsAsync(c, 10, 2, 2);
        var first = await CommitAsync(c, info);
        var manifest = await File.ReadAllTextAsync(first.ManifestPath);

        // A retry whose first attempt committed (its reply lost or its deadline passed) gets the committed checkpoint.
        var again = await CommitAsync(c, info);
        Assert.Equal(first.CheckpointId, again.CheckpointId);
        Assert.Equal(CheckpointState.Committed, again.State);

        var other = TestManifests.Create(10, 2) with { LearningRateStep = 12345 };
        var e = await Assert.ThrowsAsync<RpcException>(() => CommitAsync(c, info, other.ToJson()));
        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        Assert.Contains("different manifest", e.Status.Detail);
        Assert.Equal(manifest, await File.ReadAllTextAsync(first.ManifestPath));
    }

    [Fact]
    public async Task AManifestWrittenBeforeTheCatalogueRowTurnedCommittedIsCompletedByTheRetry()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync(Job, 2);
        var info = await WriteShardsAsync(c, 10, 2, 2);
        var first = await CommitAsync(c, info);
        var manifest = await File.ReadAllTextAsync(first.ManifestPath);
        // Commit the next step's files by hand, as a commit cut short between manifest and catalogue row leaves them.
        var begun = await WriteShardsAsync(c, 20, 2, 2);
        var next = (await c.Checkpoints.ListAsync(new ListCheckpointsRequest { JobId = Job }, c.Headers)).Checkpoints.Single(i => i.CheckpointId == begun.CheckpointId);
        var body = TestManifests.Create(20, 2) with
        {
            JobId = Job,
            CheckpointId = next.CheckpointId,
            Shards = [.. next.Shards.Select(s => new Adan.Sharded.Checkpoints.CheckpointShard(s.Rank, s.File, s.Bytes, s.Sha256))],
        };
        await File.WriteAllTextAsync(Path.Combine(next.Directory, "manifest.json"), body.ToJson());

        var committed = await CommitAsync(c, next);
        Assert.Equal(CheckpointState.Committed, committed.State);
        Assert.Equal(20, (await LatestAsync(c))!.Step);
        Assert.Equal(manifest, await File.ReadAllTextAsync(first.ManifestPath));
    }
}
