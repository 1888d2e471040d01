using System.Runtime.Versioning;
using Adan.Coordinator.Hosting;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// Checkpoint roots owned by a submitter credential (issue 28, item 1): another submitter's job cannot begin, commit or
/// delete there; ownership survives expiry and restarts and moves only by the operator's transfer; Begin never reuses a
/// directory.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class RootOwnershipTests
{
    [Fact]
    public async Task ASecondSubmittersJobCannotBeginCommitOrDeleteInTheFirstsRoot()
    {
        await using var t = await TenantFixture.StartAsync(["alice", "bob"], keepLast: 2);
        var c = t.Coordinator;
        var aliceRoot = Path.Combine(t.Runs, "alice-run");
        var a = await t.StartJobAsync("alice", "a");
        for (var step = 1; step <= 3; step++)
        {
            await t.SaveAsync(a, "a", aliceRoot, step);
        }
        // Alice's save of step 4 is in progress when bob's job attacks.
        var inProgress = await t.WriteShardAsync(a, "a", aliceRoot, 4);
        await c.WhenRetentionDone();
        var before = TenantFixture.Snapshot(aliceRoot);
        Assert.Equal(2, before.Count);

        var b = await t.StartJobAsync("bob", "b");
        // Begin in alice's root (the step she is saving, a new one), inside it, or around it.
        foreach (var (root, step) in new[] { (aliceRoot, 4L), (aliceRoot, 9L), (Path.Combine(aliceRoot, "nested"), 1L), (t.Runs, 1L) })
        {
            var begin = await Assert.ThrowsAsync<RpcException>(async () =>
                await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "b", Step = step, CheckpointRoot = root }, b));
            Assert.Equal(StatusCode.PermissionDenied, begin.StatusCode);
            Assert.Contains($"'{aliceRoot}'", begin.Status.Detail);
            Assert.Contains("credential 'alice'", begin.Status.Detail);
            Assert.Contains("job 'b' of credential 'bob'", begin.Status.Detail);
            // The refusal names what was refused, not the coordinator's roots.
            Assert.DoesNotContain("--checkpoint-root", begin.Status.Detail);
        }
        // Commit or abort alice's open checkpoint with bob's job token: refused (the token is not job a's).
        var commit = await Assert.ThrowsAsync<RpcException>(async () => await c.Checkpoints.CommitAsync(
            new CommitCheckpointRequest { JobId = "a", CheckpointId = inProgress.CheckpointId, ManifestJson = "{}" }, b));
        Assert.Equal(StatusCode.PermissionDenied, commit.StatusCode);

        // Bob's own root, with retention at every commit: alice's checkpoints are neither counted nor deleted.
        var bobRoot = Path.Combine(t.Runs, "bob-run");
        for (var step = 1; step <= 4; step++)
        {
            await t.SaveAsync(b, "b", bobRoot, step);
        }
        await c.WhenRetentionDone();
        Assert.Equal(2, CheckpointFiles.Committed(bobRoot).Count);

        // Alice's checkpoints are intact and her save in progress completes.
        Assert.Equal(before, TenantFixture.Snapshot(aliceRoot));
        var committed = await c.Checkpoints.CommitAsync(new CommitCheckpointRequest
        {
            JobId = "a", CheckpointId = inProgress.CheckpointId, ManifestJson = Adan.TestSupport.TestManifests.Create(4, 1).ToJson(),
        }, a);
        Assert.Equal(CheckpointState.Committed, committed.State);
        Assert.Equal(4, (await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = "a" }, a)).Checkpoint.Step);

        var audit = t.Audit();
        Assert.Contains(audit, e => e.GetProperty("event").GetString() == "access.denied" && e.GetProperty("credential").GetString() == "bob"
            && e.GetProperty("root").GetString() == aliceRoot);
        Assert.Contains(audit, e => e.GetProperty("event").GetString() == "checkpoint.committed" && e.GetProperty("credential").GetString() == "alice"
            && e.GetProperty("step").GetInt64() == 4);
        Assert.Contains(audit, e => e.GetProperty("event").GetString() == "checkpoint.deleted" && e.GetProperty("credential").GetString() == "bob");
        Assert.DoesNotContain(audit, e => e.GetProperty("event").GetString() == "checkpoint.deleted"
            && e.GetProperty("directory").GetString()!.StartsWith(aliceRoot + "/", StringComparison.Ordinal)
            && e.GetProperty("credential").GetString() != "alice");
    }

    [Fact]
    public async Task RetentionDeletesOnlyTheOwnersCommittedCheckpoints()
    {
        await using var t = await TenantFixture.StartAsync(["alice"], keepLast: 1);
        var root = Path.Combine(t.Runs, "shared");
        // A committed checkpoint this coordinator never committed (another tool, another coordinator): not alice's.
        var foreign = CheckpointFiles.StepDirectory(root, 1);
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, CheckpointManifest.FileName), Adan.TestSupport.TestManifests.Create(1, 1).ToJson());
        var a = await t.StartJobAsync("alice", "a");
        for (var step = 2; step <= 4; step++)
        {
            await t.SaveAsync(a, "a", root, step);
        }
        await t.Coordinator.WhenRetentionDone();
        Assert.Equal([foreign, CheckpointFiles.StepDirectory(root, 4)], CheckpointFiles.Committed(root).Select(c => c.Directory));
    }

    [Fact]
    public async Task BeginNeverReusesADirectoryItDidNotJustCreate()
    {
        await using var t = await TenantFixture.StartAsync(["alice"]);
        var c = t.Coordinator;
        var root = Path.Combine(t.Runs, "run");
        var a = await t.StartJobAsync("alice", "a");
        await t.SaveAsync(a, "a", root, 1);
        var before = TenantFixture.Snapshot(root);

        // Someone with write access to the root plants step 2 with a shard of their choosing: it is not written into.
        var planted = CheckpointFiles.StepDirectory(root, 2);
        Directory.CreateDirectory(planted);
        var plantedShard = Path.Combine(planted, CheckpointFiles.ShardFileName(0, 1));
        await File.WriteAllTextAsync(plantedShard, "planted");
        var fresh = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "a", Step = 2, CheckpointRoot = root }, a);
        Assert.Equal(planted, fresh.Directory);
        Assert.Empty(Directory.EnumerateFileSystemEntries(planted));

        // A link where step 3 goes is refused, its target untouched.
        var elsewhere = Directory.CreateDirectory(Path.Combine(t.Directory, "elsewhere")).FullName;
        await File.WriteAllTextAsync(Path.Combine(elsewhere, "keep"), "keep");
        Directory.CreateSymbolicLink(CheckpointFiles.StepDirectory(root, 3), elsewhere);
        var link = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "a", Step = 3, CheckpointRoot = root }, a));
        Assert.Equal(StatusCode.FailedPrecondition, link.StatusCode);
        Assert.Contains("is a symbolic link, not a checkpoint directory", link.Status.Detail);
        Assert.Equal("keep", await File.ReadAllTextAsync(Path.Combine(elsewhere, "keep")));

        // Alice's job dies while saving step 4; her next job (another launch, another coordinator) saves step 4 again
        // into a fresh, empty directory.
        var aborted = await t.WriteShardAsync(a, "a", root, 4);
        await c.Membership.ReportFailureAsync(new ReportFailureRequest { JobId = "a", Rank = 0, WorldSize = 1, Host = "h", Pid = 1, Message = "killed", RankSecret = TestCoordinator.SecretOf("a", 0) }, a);
        var again = await t.StartJobAsync("alice", "a-restart1");
        var retried = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "a-restart1", Step = 4, CheckpointRoot = root }, again);
        Assert.Equal(aborted.Directory, retried.Directory);
        Assert.NotEqual(aborted.CheckpointId, retried.CheckpointId);
        Assert.Empty(Directory.EnumerateFileSystemEntries(retried.Directory));
        Assert.Equal(before, TenantFixture.Snapshot(root));
    }

    [Fact]
    public async Task OwnershipSurvivesExpiryAndRestartAndMovesOnlyByTransfer()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("adan-coord-").FullName;
        await using var t = await TenantFixture.StartAsync(["alice", "bob"], dataDirectory: dataDirectory);
        var c = t.Coordinator;
        var root = Path.Combine(t.Runs, "run");
        var a = await t.StartJobAsync("alice", "a");
        await t.SaveAsync(a, "a", root, 1);
        await c.Membership.LeaveAsync(new LeaveRequest { JobId = "a", Rank = 0, RankSecret = TestCoordinator.SecretOf("a", 0) }, a);
        // Job a expires (its TTL passes; the monitor forgets it), then the coordinator restarts.
        c.Time.Advance(c.JobTtl + TimeSpan.FromMinutes(1));
        for (var i = 0; i < 100 && await JobExistsAsync(c, "a"); i++)
        {
            c.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }
        Assert.False(await JobExistsAsync(c, "a"));
        await c.RestartAsync();
        var before = TenantFixture.Snapshot(root);

        var b = await t.StartJobAsync("bob", "b");
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "b", Step = 2, CheckpointRoot = root }, b));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("credential 'alice'", refused.Status.Detail);
        Assert.Equal(before, TenantFixture.Snapshot(root));
        // Alice's next job (a new launch of the same config) resumes there.
        var a2 = await t.StartJobAsync("alice", "a2");
        await t.SaveAsync(a2, "a2", root, 2);
        await c.Membership.LeaveAsync(new LeaveRequest { JobId = "a2", Rank = 0, RankSecret = TestCoordinator.SecretOf("a2", 0) }, a2);

        // The operator hands the root to bob, with the coordinator running.
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, OperatorCommands.Run(["transfer-root", "--data-dir", dataDirectory, "--root", root, "--to", "bob"], output, error));
        Assert.Equal($"checkpoint root {root}: transferred from 'alice' to 'bob'", output.ToString().Trim());
        await t.SaveAsync(b, "b", root, 3);
        var a3 = await t.StartJobAsync("alice", "a3");
        var nowBobs = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "a3", Step = 4, CheckpointRoot = root }, a3));
        Assert.Contains("credential 'bob'", nowBobs.Status.Detail);
        Assert.Equal(3, CheckpointFiles.Committed(root).Count);
        var listing = new StringWriter();
        Assert.Equal(0, OperatorCommands.Run(["roots", "--data-dir", dataDirectory], listing, error));
        // Bob's job b holds it now, as its rank 0's .adan-lock would say.
        Assert.StartsWith($"{root}\tbob\tb\t", listing.ToString());
        Assert.Contains(t.Audit(), e => e.GetProperty("event").GetString() == "root.transferred" && e.GetProperty("to").GetString() == "bob");
        // A root no one owns cannot be transferred: one line naming it.
        var unknown = new StringWriter();
        Assert.Equal(1, OperatorCommands.Run(["transfer-root", "--data-dir", dataDirectory, "--root", Path.Combine(t.Runs, "none"), "--to", "bob"], output, unknown));
        Assert.StartsWith("adan coordinator transfer-root: no credential owns checkpoint root", unknown.ToString());
    }

    private static async Task<bool> JobExistsAsync(TestCoordinator c, string jobId)
    {
        try
        {
            await c.Jobs.StatusAsync(new JobStatusRequest { JobId = jobId }, c.Headers);
            return true;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return false;
        }
    }
}
