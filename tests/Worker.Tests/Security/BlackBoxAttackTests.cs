using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Adan.TestSupport;
using Adan.Worker.Tests.Cli;
using Grpc.Core;

namespace Adan.Worker.Tests.Security;

/// <summary>
/// Issue 28's attacks, each against the built <c>adan</c> and coordinator processes (<see cref="StandingCoordinator"/>):
/// the attacker holds another submitter's credential, a job token, or write access to a checkpoint root, and talks to
/// the coordinator over its wire protocol (raw gRPC, or raw HTTP/2 for a request no gRPC client would send). Each attack
/// is refused naming what was refused, and ends with alice's committed checkpoints bit-identical to their snapshot.
/// </summary>
/// <remarks>
/// One coordinator and one legitimate launch serve the whole class; each test names its own jobs and roots, so the
/// tests do not depend on their order. Alice resumes from her checkpoints into fresh roots, never into the snapshot's.
/// </remarks>
[UnsupportedOSPlatform("windows")]
public sealed partial class BlackBoxAttackTests(StandingCoordinator c) : IClassFixture<StandingCoordinator>
{
    // What "promptly" means for a refusal: far below the call deadline, far above a busy machine's scheduling delays.
    private static readonly TimeSpan s_prompt = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AnotherSubmittersJobTokenCannotBeginOrCommitInAlicesRootOrActOnHerJob()
    {
        var bob = await c.CreateJobAsync("bob", "bob-intruder");
        var root = c.AliceCheckpoints;

        var begin = await RefusedAsync(bob.BeginAsync(12, root));
        Assert.Equal(StatusCode.PermissionDenied, begin.StatusCode);
        Assert.Contains($"checkpoint root '{root}' belongs to credential 'alice'", begin.Status.Detail);
        Assert.Contains("job 'bob-intruder' of credential 'bob' may not begin, commit or delete checkpoints there", begin.Status.Detail);
        // Nor through a link of his own to her root (the coordinator resolves it), a root inside hers or around it.
        var alias = Path.Combine(c.Runs, "bob-alias");
        Directory.CreateSymbolicLink(alias, root);
        var linked = await RefusedAsync(bob.BeginAsync(12, alias));
        Assert.Equal(StatusCode.PermissionDenied, linked.StatusCode);
        Assert.Contains($"checkpoint root '{root}' belongs to credential 'alice'", linked.Status.Detail);
        var inside = await RefusedAsync(bob.BeginAsync(12, Path.Combine(root, "bob")));
        Assert.Equal(StatusCode.PermissionDenied, inside.StatusCode);
        Assert.Contains($"lies inside '{root}', which belongs to credential 'alice'", inside.Status.Detail);
        var around = await RefusedAsync(bob.BeginAsync(12, c.Runs));
        Assert.Equal(StatusCode.PermissionDenied, around.StatusCode);
        // Alice's first root, or another root of hers that other tests made meanwhile.
        Assert.Contains($"checkpoint root '{c.Runs}' contains '{c.Runs}/alice", around.Status.Detail);
        Assert.Contains("which belongs to credential 'alice'", around.Status.Detail);

        // Bob's job token naming alice's job: her committed checkpoint, a new step of hers.
        var latest = (await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = StandingCoordinator.AliceJob }, c.Operator,
            StandingCoordinator.Deadline)).Checkpoint;
        var scoped = "this token belongs to job 'bob-intruder'; it cannot act on job 'alice-1'";
        var foreignBegin = await RefusedAsync(c.Checkpoints.BeginAsync(
            new BeginCheckpointRequest { JobId = StandingCoordinator.AliceJob, Step = 12, CheckpointRoot = root }, bob.Headers,
            StandingCoordinator.Deadline).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, foreignBegin.StatusCode);
        Assert.Contains(scoped, foreignBegin.Status.Detail);
        var foreignCommit = await RefusedAsync(c.Checkpoints.CommitAsync(
            new CommitCheckpointRequest { JobId = StandingCoordinator.AliceJob, CheckpointId = latest.CheckpointId, ManifestJson = "{\"forged\":true}" },
            bob.Headers, StandingCoordinator.Deadline).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, foreignCommit.StatusCode);
        Assert.Contains(scoped, foreignCommit.Status.Detail);
        // Her checkpoint's id under bob's own job is not his.
        var borrowed = await RefusedAsync(c.Checkpoints.CommitAsync(
            new CommitCheckpointRequest { JobId = bob.JobId, CheckpointId = latest.CheckpointId, ManifestJson = TestManifests.Create(latest.Step, 1).ToJson() },
            bob.Headers, StandingCoordinator.Deadline).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, borrowed.StatusCode);
        Assert.Contains($"unknown checkpoint {latest.CheckpointId} of job 'bob-intruder'", borrowed.Status.Detail);
        // Bob's credential itself acts only on the jobs it created.
        var status = await RefusedAsync(c.Jobs.StatusAsync(new JobStatusRequest { JobId = StandingCoordinator.AliceJob }, c.As("bob"),
            StandingCoordinator.Deadline).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, status.StatusCode);
        Assert.Contains("credential 'bob' may only act on the jobs it created; job 'alice-1' is not one of them", status.Status.Detail);

        Assert.Contains(c.AuditOf("bob"), e => e.Event == "access.denied" && e.Reason?.Contains("belongs to credential 'alice'") == true);
        await c.AssertAliceIntactAsync();
    }

    [Fact]
    public async Task AStepDirectoryPlantedAsALinkStopsAlicesSaveAndItsTargetIsUntouched()
    {
        var run = Path.Combine(c.Runs, "alice-step-link");
        var checkpoints = Directory.CreateDirectory(Path.Combine(run, "checkpoints")).FullName;
        var victim = Directory.CreateDirectory(Path.Combine(c.Scratch, "step-link-victim")).FullName;
        await File.WriteAllTextAsync(Path.Combine(victim, "precious.txt"), "precious");
        // The step alice's resumed run saves next: anything written there would land in the victim directory.
        var next = c.AliceLatestStep + StandingCoordinator.CheckpointEvery;
        var planted = CheckpointFiles.StepDirectory(checkpoints, next);
        Directory.CreateSymbolicLink(planted, victim);

        var resumed = c.ResumeAlice("alice-step-link", run);

        Assert.True(resumed.ExitCode == 1, resumed.Describe());
        Assert.Contains($"resumed from {c.AliceLatest} at step {c.AliceLatestStep}", resumed.Stdout);
        Assert.Contains($"could not save step {next}: the coordinator refused to begin step {next}", resumed.Stderr);
        Assert.Contains($"'{planted}' is a symbolic link, not a checkpoint directory", resumed.Stderr);
        Assert.Equal(["precious.txt"], Directory.EnumerateFileSystemEntries(victim).Select(Path.GetFileName));
        Assert.Equal("precious", await File.ReadAllTextAsync(Path.Combine(victim, "precious.txt")));
        Assert.Equal(victim, new DirectoryInfo(planted).LinkTarget);
        await c.AssertAliceIntactAsync();
    }

    [Fact]
    public async Task AShardPlantedAsALinkInAnUncommittedStepIsRemovedAsALinkAndAliceResumes()
    {
        var run = Path.Combine(c.Runs, "alice-shard-link");
        var checkpoints = Directory.CreateDirectory(Path.Combine(run, "checkpoints")).FullName;
        var victim = Path.Combine(c.Scratch, "shard-link-victim.txt");
        await File.WriteAllTextAsync(victim, "precious");
        // An uncommitted directory of the step alice saves next (what a crashed save leaves) whose shard is a link: a
        // save writing through it would truncate the victim.
        var next = c.AliceLatestStep + StandingCoordinator.CheckpointEvery;
        var planted = Directory.CreateDirectory(CheckpointFiles.StepDirectory(checkpoints, next)).FullName;
        File.CreateSymbolicLink(Path.Combine(planted, CheckpointFiles.ShardFileName(0, 1)), victim);

        var resumed = c.ResumeAlice("alice-shard-link", run);

        Assert.True(resumed.ExitCode == 0, resumed.Describe());
        Assert.Contains($"resumed from {c.AliceLatest} at step {c.AliceLatestStep}", resumed.Stdout);
        Assert.Equal("precious", await File.ReadAllTextAsync(victim));
        Assert.Null(new FileInfo(victim).LinkTarget);
        // Begin removed the planted directory (the link as a link) and made the step afresh; every save of the second
        // epoch committed with regular shard files.
        var saved = StandingCoordinator.Snapshot(checkpoints);
        Assert.Contains(planted, saved.Keys);
        Assert.Equal(c.AliceSnapshot.Count, saved.Count);
        Assert.All(saved.Values, files => Assert.DoesNotContain(":link->", files));
        await c.AssertAliceIntactAsync();
    }

    [Fact]
    public async Task AShardPlantedAsALinkIsNeverWrittenThroughByARunWithoutACoordinator()
    {
        // Without a coordinator the run reuses an uncommitted step directory, so the planted shard meets the writer.
        var run = Path.Combine(c.Scratch, "local-shard-link");
        var planted = Directory.CreateDirectory(CheckpointFiles.StepDirectory(Path.Combine(run, "checkpoints"), 4)).FullName;
        var victim = Path.Combine(c.Scratch, "local-shard-victim.txt");
        await File.WriteAllTextAsync(victim, "precious");
        var shard = Path.Combine(planted, CheckpointFiles.ShardFileName(0, 1));
        File.CreateSymbolicLink(shard, victim);

        var result = AdanCli.Run([.. AdanCli.TinyTrain, "--set", "checkpoint_every=4", "--set", $"run_dir={run}"], TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.Contains($"rank 0 could not save step 4: cannot create '{shard}': it is a symbolic link; refusing to follow it.", result.Stderr);
        Assert.Equal("precious", await File.ReadAllTextAsync(victim));
        Assert.Null(new FileInfo(victim).LinkTarget);
        // The failed save was aborted: its directory removed, the planted link as a link.
        Assert.False(Directory.Exists(planted));
        await c.AssertAliceIntactAsync();
    }

    [Fact]
    public async Task AFifoAsManifestIsRefusedPromptlyAndDoesNotStallAnotherJobsCheckpoint()
    {
        // A job of alice's saving in her root meets a FIFO planted as its manifest.json.
        var alice = await c.CreateJobAsync("alice", "alice-fifo");
        var open = await alice.WriteShardAsync(1000, c.AliceCheckpoints);
        var fifo = Path.Combine(open.Directory, CheckpointManifest.FileName);
        Assert.Equal(0, MakeFifo(fifo, Convert.ToUInt32("644", 8)));
        var bob = await c.CreateJobAsync("bob", "bob-neighbour");
        try
        {
            var clock = Stopwatch.StartNew();
            var commit = RefusedAsync(alice.CommitAsync(open));
            // Bob checkpoints meanwhile: no lock of alice's job is held by a reader blocked on the FIFO.
            var neighbour = await bob.CommitAsync(await bob.WriteShardAsync(1, Path.Combine(c.Runs, "bob-neighbour"))).WaitAsync(s_prompt);
            Assert.Equal(CheckpointState.Committed, neighbour.State);
            var refused = await commit.WaitAsync(s_prompt);
            Assert.True(clock.Elapsed < s_prompt, $"the refusal took {clock.Elapsed}");
            Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
            Assert.Contains($"'{fifo}' is not a regular file", refused.Status.Detail);
            var latest = await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = alice.JobId }, alice.Headers, StandingCoordinator.Deadline);
            Assert.Null(latest.Checkpoint);
        }
        finally
        {
            await alice.AbortAsync(open, "FIFO planted as manifest");
            // The attacker's FIFO goes; a recursive delete never opens it.
            Directory.Delete(open.Directory, recursive: true);
        }
        await c.AssertAliceIntactAsync();
    }

    [Fact]
    public async Task AFloodOfBeginsForNewStepsIsRefusedAtTheCaps()
    {
        var flood = await c.CreateJobAsync("bob", "bob-flood");
        var root = Path.Combine(c.Runs, "bob-flood");
        var open = new List<CheckpointInfo>();
        for (var step = 1; step <= 4; step++)
        {
            open.Add(await flood.BeginAsync(step, root));
        }
        var fifth = await RefusedAsync(flood.BeginAsync(5, root));
        Assert.Equal(StatusCode.ResourceExhausted, fifth.StatusCode);
        Assert.Contains("job 'bob-flood' already has 4 open checkpoints (steps 1, 2, 3, 4), the most allowed", fifth.Status.Detail);
        foreach (var checkpoint in open)
        {
            await flood.AbortAsync(checkpoint, "flood");
        }
        // Beginning and aborting does not get around it: 64 uncommitted checkpoints a job, then none.
        RpcException? refused = null;
        var begun = open.Count;
        for (var step = 100L; step < 200 && refused is null; step++)
        {
            try
            {
                await flood.AbortAsync(await flood.BeginAsync(step, root), "flood");
                begun++;
            }
            catch (RpcException e)
            {
                refused = e;
            }
        }
        Assert.NotNull(refused);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("job 'bob-flood' began 64 checkpoints it did not commit, the most allowed", refused.Status.Detail);
        Assert.Equal(64, begun);
        Assert.Equal(64, Directory.EnumerateDirectories(root, "step-*").Count());
        await c.AssertAliceIntactAsync();
    }

    [Fact]
    public async Task AnOversizedHostAtJoinIsRefusedNamingTheFieldAndTheLimit()
    {
        var job = await c.CreateJobAsync("bob", "bob-host", join: false);
        // 128 two-byte characters: the limit is in bytes, as stored and logged.
        foreach (var host in new[] { new string('h', 256), new string('é', 128), new string('h', 64 * 1024 - 256) })
        {
            var refused = await RefusedAsync(job.JoinAsync(0, host));
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            var bytes = System.Text.Encoding.UTF8.GetByteCount(host);
            Assert.Contains($"host is {bytes.ToString(CultureInfo.InvariantCulture)} bytes", refused.Status.Detail);
            Assert.Contains("255", refused.Status.Detail);
        }
        // Nothing was recorded: the rank joins with a host that fits.
        Assert.Equal(JobState.Running, (await job.JoinAsync(0, new string('h', 255))).State);
        await c.AssertAliceIntactAsync();
    }

    [Theory]
    [InlineData("/adan.coordinator.v1.Checkpoints/Commit", null, 16 << 20, StatusCode.Unauthenticated, "missing token")]
    // Health checks need no token, but their size is bounded all the same.
    [InlineData("/grpc.health.v1.Health/Check", null, 16 << 20, StatusCode.ResourceExhausted,
        "/grpc.health.v1.Health/Check request of 16777216 bytes refused: the most allowed is 65536 bytes")]
    [InlineData("/adan.coordinator.v1.Checkpoints/Begin", "bob", 16 << 20, StatusCode.ResourceExhausted,
        "/adan.coordinator.v1.Checkpoints/Begin request of 16777216 bytes refused: the most allowed is 65536 bytes")]
    [InlineData("/adan.coordinator.v1.Checkpoints/Commit", "bob", (16 << 20) + 1, StatusCode.ResourceExhausted,
        "/adan.coordinator.v1.Checkpoints/Commit request of 16777217 bytes refused: the most allowed is 16777216 bytes")]
    public async Task AnOversizedRequestIsRefusedOnItsHeadersBeforeItsBodyIsRead(string method, string? credential, int claimed, StatusCode expected, string named)
    {
        using var http = new HttpClient(new SocketsHttpHandler());
        var body = new HeldGrpcBody(claimed);
        // HTTP/2 with prior knowledge, as gRPC speaks to a plaintext coordinator.
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(c.Address, method))
        {
            Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = body,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (credential is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(c.SecretFile(credential))).Trim());
        }
        body.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(s_prompt);

        Assert.False(body.Released, "the coordinator answered only after the whole body was sent");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(((int)expected).ToString(CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues("grpc-status")));
        Assert.Contains(named, Uri.UnescapeDataString(Assert.Single(response.Headers.GetValues("grpc-message"))));
        body.Release();
        await c.AssertAliceIntactAsync();
    }

    [Fact]
    public async Task ARankCannotHeartbeatLeaveOrFailForAnotherRankWithoutItsSecret()
    {
        var job = await c.CreateJobAsync("alice", "alice-ranks", worldSize: 2);
        // Rank 1 (or anyone holding the job's token) acts for rank 0, with its own secret or none.
        foreach (var secret in new[] { job.SecretOf(1), "" })
        {
            AssertRefusedForRank0("Heartbeat", await RefusedAsync(c.Membership.HeartbeatAsync(
                new HeartbeatRequest { JobId = job.JobId, Rank = 0, Step = 99, RankSecret = secret }, job.Headers, StandingCoordinator.Deadline).ResponseAsync));
            AssertRefusedForRank0("Leave", await RefusedAsync(c.Membership.LeaveAsync(
                new LeaveRequest { JobId = job.JobId, Rank = 0, RankSecret = secret }, job.Headers, StandingCoordinator.Deadline).ResponseAsync));
            AssertRefusedForRank0("ReportFailure", await RefusedAsync(c.Membership.ReportFailureAsync(new ReportFailureRequest
            {
                JobId = job.JobId, Rank = 0, WorldSize = 2, Host = "node", Pid = 4000, Message = "framed", RankSecret = secret,
            }, job.Headers, StandingCoordinator.Deadline).ResponseAsync));
        }
        // A second Join as rank 0 with a secret of the attacker's own is refused too.
        var rejoin = await RefusedAsync(c.Membership.JoinAsync(new JoinRequest
        {
            JobId = job.JobId, Rank = 0, WorldSize = 2, Host = "node", Pid = 4000, RankSecretSha256 = RankSecret.Hash(job.SecretOf(1)),
        }, job.Headers, StandingCoordinator.Deadline).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, rejoin.StatusCode);
        Assert.Contains("rank 0", rejoin.Status.Detail);

        // Rank 0 itself is heard, and nothing the refused calls claimed was recorded.
        var own = await c.Membership.HeartbeatAsync(new HeartbeatRequest { JobId = job.JobId, Rank = 0, Step = 11, RankSecret = job.SecretOf(0) },
            job.Headers, StandingCoordinator.Deadline);
        Assert.Equal(JobState.Running, own.State);
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = job.JobId }, job.Headers, StandingCoordinator.Deadline);
        Assert.Equal(JobState.Running, status.State);
        Assert.Equal(11, status.Members.Single(m => m.Rank == 0).Step);
        Assert.DoesNotContain(status.Members, m => m.Left);
        await c.AssertAliceIntactAsync();
    }

    private static void AssertRefusedForRank0(string call, RpcException refused)
    {
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains($"{call} for rank 0", refused.Status.Detail);
        Assert.Contains("secret", refused.Status.Detail);
    }

    /// <summary>The refusal <paramref name="call"/> ends with, within the call's deadline.</summary>
    private static async Task<RpcException> RefusedAsync(Task call) => await Assert.ThrowsAsync<RpcException>(() => call);

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);
}
