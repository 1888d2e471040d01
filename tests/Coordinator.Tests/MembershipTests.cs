using Adan.Coordinator.V1;
using System.Diagnostics;
using Grpc.Core;

namespace Adan.Coordinator.Tests;

public sealed class MembershipTests
{
    /// <summary>A Join of rank <paramref name="rank"/>; a <paramref name="pid"/> names another process, with a secret of its own.</summary>
    private static JoinRequest Join(int rank, int worldSize, int pid = 0, string job = "job")
    {
        var secret = pid == 0 ? TestCoordinator.SecretOf(job, rank) : Protocol.RankSecret.Hash($"process {pid}");
        return new()
        {
            JobId = job, Rank = rank, WorldSize = worldSize, Host = "test-host", Pid = pid == 0 ? 1000 + rank : pid,
            RankSecretSha256 = Protocol.RankSecret.Hash(secret), RankSecret = secret,
        };
    }

    [Fact]
    public async Task JobRunsWhenAllRanksJoinedAndFinishesWhenAllLeft()
    {
        await using var c = await TestCoordinator.StartAsync();
        var first = await c.Membership.JoinAsync(Join(0, 2), c.Headers);
        Assert.Equal(JobState.Pending, first.State);
        Assert.Equal(10_000, first.HeartbeatIntervalMs);
        var second = await c.Membership.JoinAsync(Join(1, 2), c.Headers);
        Assert.Equal(JobState.Running, second.State);

        // The same process retrying its Join succeeds (lost reply, coordinator restart).
        Assert.Equal(JobState.Running, (await c.Membership.JoinAsync(Join(1, 2), c.Headers)).State);

        Assert.Equal(JobState.Running, (await c.Membership.LeaveAsync(new LeaveRequest { JobId = "job", Rank = 0, RankSecret = TestCoordinator.SecretOf("job", 0) }, c.Headers)).State);
        Assert.Equal(JobState.Finished, (await c.Membership.LeaveAsync(new LeaveRequest { JobId = "job", Rank = 1, RankSecret = TestCoordinator.SecretOf("job", 1) }, c.Headers)).State);
        var late = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(Join(0, 2, pid: 7), c.Headers).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, late.StatusCode);
    }

    [Fact]
    public async Task DuplicateRankIsAlreadyExists()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.Membership.JoinAsync(Join(1, 4), c.Headers);
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(Join(1, 4, pid: 99), c.Headers).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, error.StatusCode);
        Assert.Contains("rank 1", error.Status.Detail);
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(-1, 4)]
    [InlineData(0, 0)]
    public async Task OutOfRangeRankIsInvalidArgument(int rank, int worldSize)
    {
        await using var c = await TestCoordinator.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(Join(rank, worldSize), c.Headers).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains(worldSize == 0 ? "world size 0" : $"rank {rank}", error.Status.Detail);
    }

    [Fact]
    public async Task DisagreeingWorldSizeIsFailedPrecondition()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.Membership.JoinAsync(Join(0, 4), c.Headers);
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(Join(1, 8), c.Headers).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("world size 8", error.Status.Detail);
    }

    [Fact]
    public async Task InvalidJobIdIsInvalidArgument()
    {
        await using var c = await TestCoordinator.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(Join(0, 1, job: "../etc"), c.Headers).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task SilentRankFailsTheJobAndEveryWatcherIsTold()
    {
        await using var c = await TestCoordinator.StartAsync();
        const int worldSize = 3;
        var healthy = new List<Adan.Coordinator.Client.CoordinatorClient>();
        var notified = new List<TaskCompletionSource<string>>();
        for (var rank = 0; rank < worldSize - 1; rank++)
        {
            var client = c.Client("job", rank, worldSize);
            var tcs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            client.JobFailed += (_, e) => tcs.TrySetResult(e.Reason);
            await client.JoinAsync();
            client.StartBackground();
            healthy.Add(client);
            notified.Add(tcs);
        }
        // The last rank joins and then never heartbeats.
        await c.Membership.JoinAsync(Join(worldSize - 1, worldSize), c.Headers);
        using var watch = await c.WatchAsync("job");

        // Two-thirds of the timeout, a heartbeat from each healthy rank, two-thirds again: only the silent rank is past it.
        var step = c.HeartbeatTimeout * 2 / 3;
        c.Time.Advance(step);
        foreach (var client in healthy)
        {
            Assert.Equal(JobState.Running, (await client.HeartbeatAsync()).State);
        }
        c.Time.Advance(step);

        var failed = await TestCoordinator.NextAsync(watch, JobEventKind.JobFailed);
        Assert.Equal(worldSize - 1, failed.Rank);
        var reasons = await Task.WhenAll(notified.Select(t => t.Task)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(reasons, reason => Assert.Contains($"rank {worldSize - 1}", reason));
        Assert.All(healthy, client => Assert.True(client.JobFailedToken.IsCancellationRequested));
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, c.Headers);
        Assert.Equal(JobState.Failed, status.State);
        Assert.Contains($"rank {worldSize - 1}", status.Reason);
        foreach (var client in healthy)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task WatchStartsWithSnapshotAndEndsAfterFailure()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.Membership.JoinAsync(Join(0, 2), c.Headers);
        using var call = await c.WatchAsync("job");
        c.Time.Advance(c.HeartbeatTimeout + TimeSpan.FromSeconds(1));
        var events = new List<JobEvent>();
        await foreach (var jobEvent in call.ResponseStream.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token))
        {
            events.Add(jobEvent);
        }
        Assert.Equal(JobEventKind.JobFailed, Assert.Single(events).Kind);
        Assert.Equal(0, events[0].Rank);
    }

    [Fact]
    public async Task ARanksClosedWatchShowsInStatusUntilItWatchesAgainOrLeaves()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 3);
        async Task<Dictionary<int, long>> DisconnectedAsync() =>
            (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, c.Headers)).Members.ToDictionary(m => m.Rank, m => m.DisconnectedMs);
        async Task<AsyncServerStreamingCall<JobEvent>> WatchAsync(int rank)
        {
            var call = c.Membership.Watch(new WatchRequest { JobId = "job", Rank = rank, RankSecret = TestCoordinator.SecretOf("job", rank) }, c.Headers);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            return call;
        }
        async Task WaitForAsync(Func<Dictionary<int, long>, bool> condition)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!condition(await DisconnectedAsync()))
            {
                Assert.True(DateTime.UtcNow < deadline, "status did not change in 10 s");
                await Task.Delay(20);
            }
        }

        // Before a rank watches it is not counted as connected or disconnected.
        Assert.Equal([-1, -1, -1], (await DisconnectedAsync()).Values);
        var watches = new[] { await WatchAsync(0), await WatchAsync(1), await WatchAsync(2) };
        using var observer = await c.WatchAsync("job");
        // Rank 2's process dies (its stream closes from its side), then rank 0's: both show, rank 2 the longer.
        watches[2].Dispose();
        await WaitForAsync(d => d[2] >= 0);
        c.Time.Advance(TimeSpan.FromMilliseconds(50));
        watches[0].Dispose();
        await WaitForAsync(d => d[0] >= 0);
        var lost = await DisconnectedAsync();
        Assert.True(lost[2] - lost[0] == 50, $"rank 2 lost {lost[2]} ms ago, rank 0 {lost[0]} ms ago (the coordinator's clock moved 50 ms between)");
        Assert.Equal(-1, lost[1]);
        // An observer's stream is nobody's connection.
        observer.Dispose();
        await Task.Delay(100);
        Assert.Equal(-1, (await DisconnectedAsync())[1]);

        // Rank 2 watches again (a reconnect: it lives); rank 0 leaves.
        using var again = await WatchAsync(2);
        await c.Membership.LeaveAsync(new LeaveRequest { JobId = "job", Rank = 0, RankSecret = TestCoordinator.SecretOf("job", 0) }, c.Headers);
        Assert.Equal([-1, -1, -1], (await DisconnectedAsync()).Values);
        watches[1].Dispose();
    }

    [Fact]
    public async Task ClientReconnectsAfterCoordinatorRestart()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 1);
        using (var call = c.Membership.Watch(new WatchRequest { JobId = "job" }, c.Headers))
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            var stopping = Stopwatch.StartNew();
            await c.RestartAsync();
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"restart with an open watch took {stopping.Elapsed}");
        }
        await using var client = c.Client("job", 0, 1);
        Assert.Equal(JobState.Running, (await client.JoinAsync()).State);
        Assert.Equal(JobState.Running, (await client.HeartbeatAsync()).State);
    }
}
