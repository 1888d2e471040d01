using Adan.Coordinator.Client;
using Adan.Coordinator.V1;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>Per-job tokens: the operator token creates jobs; a job's token acts on that job only.</summary>
public sealed class JobTokenTests
{
    [Fact]
    public async Task OnlyTheOperatorTokenCreatesJobs()
    {
        await using var c = await TestCoordinator.StartAsync();
        var tokenA = await c.CreateJobAsync("a", 1);
        Assert.Matches(@"\A[0-9a-f]{64}\z", tokenA);

        var byJob = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "b", WorldSize = 1 }, TestCoordinator.HeadersFor(tokenA)));
        Assert.Equal(StatusCode.PermissionDenied, byJob.StatusCode);
        Assert.Contains("operator token", byJob.Status.Detail);
        var byStranger = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "b", WorldSize = 1 }, TestCoordinator.HeadersFor("not-a-token")));
        Assert.Equal(StatusCode.Unauthenticated, byStranger.StatusCode);
        // A job token cannot create a job by joining it either.
        var byJoin = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Membership.JoinAsync(new JoinRequest { JobId = "b", Rank = 0, WorldSize = 1, Host = "h", Pid = 1, RankSecretSha256 = TestCoordinator.SecretHashOf("b", 0) }, TestCoordinator.HeadersFor(tokenA)));
        Assert.Equal(StatusCode.PermissionDenied, byJoin.StatusCode);
        var status = await Assert.ThrowsAsync<RpcException>(async () => await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "b" }, c.Headers));
        Assert.Equal(StatusCode.NotFound, status.StatusCode);
        // A token is issued once.
        var again = await Assert.ThrowsAsync<RpcException>(() => c.CreateJobAsync("a", 1));
        Assert.Equal(StatusCode.AlreadyExists, again.StatusCode);
    }

    [Fact]
    public async Task AJobTokenCannotFailEndCommitOrWatchAnotherJob()
    {
        await using var c = await TestCoordinator.StartAsync();
        var tokenA = await c.CreateJobAsync("a", 2);
        var tokenB = await c.CreateJobAsync("b", 2);
        var asA = TestCoordinator.HeadersFor(tokenA);
        var asB = TestCoordinator.HeadersFor(tokenB);
        for (var rank = 0; rank < 2; rank++)
        {
            await c.Membership.JoinAsync(new JoinRequest { JobId = "a", Rank = rank, WorldSize = 2, Host = "h", Pid = 10 + rank, RankSecretSha256 = TestCoordinator.SecretHashOf("a", rank) }, asA);
            await c.Membership.JoinAsync(new JoinRequest { JobId = "b", Rank = rank, WorldSize = 2, Host = "h", Pid = 20 + rank, RankSecretSha256 = TestCoordinator.SecretHashOf("b", rank) }, asB);
        }
        var checkpoint = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "b", Step = 1 }, asB);

        var attempts = new Func<Task>[]
        {
            async () => await c.Membership.JoinAsync(new JoinRequest { JobId = "b", Rank = 1, WorldSize = 2, Host = "h", Pid = 21, RankSecretSha256 = TestCoordinator.SecretHashOf("b", 1) }, asA),
            async () => await c.Membership.HeartbeatAsync(new HeartbeatRequest { JobId = "b", Rank = 0, RankSecret = TestCoordinator.SecretOf("b", 0) }, asA),
            async () => await c.Membership.LeaveAsync(new LeaveRequest { JobId = "b", Rank = 0, RankSecret = TestCoordinator.SecretOf("b", 0) }, asA),
            async () => await c.Membership.ReportFailureAsync(new ReportFailureRequest { JobId = "b", Rank = 0, WorldSize = 2, Host = "h", Pid = 20, Message = "x", RankSecret = TestCoordinator.SecretOf("b", 0) }, asA),
            async () => await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "b", Step = 2 }, asA),
            async () => await c.Checkpoints.CommitAsync(new CommitCheckpointRequest { JobId = "b", CheckpointId = checkpoint.CheckpointId }, asA),
            async () => await c.Checkpoints.AbortAsync(new AbortCheckpointRequest { JobId = "b", CheckpointId = checkpoint.CheckpointId }, asA),
            async () => await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = "b" }, asA),
            async () => await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "b" }, asA),
            async () =>
            {
                using var watch = c.Membership.Watch(new WatchRequest { JobId = "b", Rank = -1 }, asA);
                await watch.ResponseStream.MoveNext(CancellationToken.None);
            },
        };
        foreach (var attempt in attempts)
        {
            var e = await Assert.ThrowsAsync<RpcException>(attempt);
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Contains("belongs to job 'a'", e.Status.Detail);
            Assert.Contains("job 'b'", e.Status.Detail);
        }

        // Job b is untouched: running, both ranks in, its checkpoint still open.
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "b" }, asB);
        Assert.Equal(JobState.Running, status.State);
        Assert.All(status.Members, m => Assert.False(m.Left));
        var list = await c.Checkpoints.ListAsync(new ListCheckpointsRequest { JobId = "b" }, asB);
        Assert.Equal(CheckpointState.Open, Assert.Single(list.Checkpoints).State);
        // And a's token still works on a, its ranks' failure reports included.
        Assert.Equal(JobState.Running, (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "a" }, asA)).State);
        var reported = await c.Membership.ReportFailureAsync(new ReportFailureRequest { JobId = "a", Rank = 1, WorldSize = 2, Host = "h", Pid = 11, Message = "boom", RankSecret = TestCoordinator.SecretOf("a", 1) }, asA);
        Assert.Equal(JobState.Failed, reported.State);
        Assert.Contains("rank 1 (h pid 11) failed: boom", reported.Reason);
        var failed = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "a" }, asA);
        Assert.Equal((1, 0), (failed.FailedRank, failed.Restarts));
    }

    [Fact]
    public async Task AJobCreatedAsARestartKeepsItsCountInItsStatus()
    {
        await using var c = await TestCoordinator.StartAsync();
        var created = await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "job-restart2", WorldSize = 2, Restarts = 2 }, c.Headers);
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job-restart2" }, TestCoordinator.HeadersFor(created.JobToken));
        Assert.Equal((2, -1), (status.Restarts, status.FailedRank));
        var negative = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "other", WorldSize = 2, Restarts = -1 }, c.Headers));
        Assert.Equal(StatusCode.InvalidArgument, negative.StatusCode);
    }

    [Fact]
    public async Task AClientWithTheJobTokenRunsTheWholeJob()
    {
        await using var c = await TestCoordinator.StartAsync();
        var token = await c.CreateJobAsync("job", 1);
        await using var client = new CoordinatorClient(new CoordinatorClientOptions
        {
            Address = c.Address, Token = token, JobId = "job", Rank = 0, WorldSize = 1, Host = "h", Pid = 1,
        }, c.Channel);
        Assert.Equal(JobState.Running, (await client.JoinAsync()).State);
        Assert.Equal(JobState.Finished, (await client.LeaveAsync()).State);
    }

    [Theory]
    [InlineData(65_537)]
    [InlineData(int.MaxValue)]
    [InlineData(0)]
    public async Task AWorldSizeOutsideOneTo65536IsRefused(int worldSize)
    {
        await using var c = await TestCoordinator.StartAsync();
        var create = await Assert.ThrowsAsync<RpcException>(() => c.CreateJobAsync("big", worldSize));
        Assert.Equal(StatusCode.InvalidArgument, create.StatusCode);
        Assert.Contains($"world size {worldSize}", create.Status.Detail);
        Assert.Contains("65536", create.Status.Detail);
        var join = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Membership.JoinAsync(new JoinRequest { JobId = "big", Rank = 0, WorldSize = worldSize, Host = "h", Pid = 1, RankSecretSha256 = TestCoordinator.SecretHashOf("big", 0) }, c.Headers));
        Assert.Equal(StatusCode.InvalidArgument, join.StatusCode);
    }

    [Fact]
    public async Task The65536RankMaximumIsAccepted()
    {
        await using var c = await TestCoordinator.StartAsync();
        var reply = await c.Membership.JoinAsync(new JoinRequest { JobId = "max", Rank = 65_535, WorldSize = 65_536, Host = "h", Pid = 1, RankSecretSha256 = TestCoordinator.SecretHashOf("max", 65_535) }, c.Headers);
        Assert.Equal(1, reply.Joined);
    }

    [Theory]
    [InlineData("x\n")]
    [InlineData("x\r\n")]
    [InlineData("\nx")]
    [InlineData("../x")]
    public async Task AJobIdWithALineBreakOrPathIsRefused(string jobId)
    {
        await using var c = await TestCoordinator.StartAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() => c.CreateJobAsync(jobId, 1));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        var join = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Membership.JoinAsync(new JoinRequest { JobId = jobId, Rank = 0, WorldSize = 1, Host = "h", Pid = 1, RankSecretSha256 = TestCoordinator.SecretHashOf(jobId, 0) }, c.Headers));
        Assert.Equal(StatusCode.InvalidArgument, join.StatusCode);
    }

    [Fact]
    public async Task AnEndedJobAndItsTokenExpireAfterTheTtl()
    {
        var ttl = TimeSpan.FromMinutes(10);
        await using var c = await TestCoordinator.StartAsync(jobTtl: ttl);
        var token = await c.CreateJobAsync("job", 1);
        var asJob = TestCoordinator.HeadersFor(token);
        await c.Membership.JoinAsync(new JoinRequest { JobId = "job", Rank = 0, WorldSize = 1, Host = "h", Pid = 1, RankSecretSha256 = TestCoordinator.SecretHashOf("job", 0) }, asJob);
        await c.Membership.LeaveAsync(new LeaveRequest { JobId = "job", Rank = 0, RankSecret = TestCoordinator.SecretOf("job", 0) }, asJob);

        // Just short of the TTL (after several monitor periods) the ended job is still there.
        c.Time.Advance(ttl - TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        Assert.Equal(JobState.Finished, (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, asJob)).State);

        c.Time.Advance(TimeSpan.FromSeconds(20));
        var gone = await EventuallyAsync(async () =>
        {
            var e = await Assert.ThrowsAsync<RpcException>(async () => await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, c.Headers));
            return e.StatusCode == StatusCode.NotFound;
        });
        Assert.True(gone, "the job was not forgotten after its TTL");
        var stale = await Assert.ThrowsAsync<RpcException>(async () => await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, asJob));
        Assert.Equal(StatusCode.Unauthenticated, stale.StatusCode);
        // Its id can be used again.
        await c.CreateJobAsync("job", 2);
    }

    [Fact]
    public async Task WatchStreamsPerJobAreLimited()
    {
        await using var c = await TestCoordinator.StartAsync(maxWatchStreams: 2);
        await c.JoinAllAsync("job", 2);
        using var first = await c.WatchAsync("job");
        using var second = await c.WatchAsync("job");
        var third = await Assert.ThrowsAsync<RpcException>(() => c.WatchAsync("job"));
        Assert.Equal(StatusCode.ResourceExhausted, third.StatusCode);
        Assert.Contains("--max-watch-streams 2", third.Status.Detail);

        // Closing one frees its place.
        first.Dispose();
        Assert.True(await EventuallyAsync(async () =>
        {
            try
            {
                using var again = await c.WatchAsync("job");
                return true;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
            {
                return false;
            }
        }));
    }

    /// <summary>Polls <paramref name="condition"/> for up to 10 s of wall clock (the server reacts asynchronously to the fake clock).</summary>
    internal static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(50);
        }
        return false;
    }
}
