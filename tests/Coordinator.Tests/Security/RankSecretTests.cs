using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// Ranks of one job cannot act as each other: every call naming a rank must carry the secret whose hash that rank sent
/// at Join, a retried Join included, and the hashes survive a coordinator restart.
/// </summary>
public sealed class RankSecretTests
{
    private static readonly LearningRateSchedule s_schedule = new()
    {
        BaseLearningRate = 0.01, BaseBatchSize = 64, Scaling = ScalingPolicy.None, WorldSize = 2, MicroBatchSize = 32,
        AccumulationSteps = 1, Decay = DecayKind.Constant,
    };

    [Fact]
    public async Task HeartbeatLeaveAndFailureReportsForAnotherRankAreRefused()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        // Rank 1 (or anyone holding the job's token) acts for rank 0, with its own secret or none.
        foreach (var secret in new[] { TestCoordinator.SecretOf(job.JobId, 1), "" })
        {
            await AssertRefusedForRank0Async("Heartbeat", c.Membership.HeartbeatAsync(
                new HeartbeatRequest { JobId = job.JobId, Rank = 0, Step = 99, RankSecret = secret }, job.Headers).ResponseAsync);
            await AssertRefusedForRank0Async("Leave", c.Membership.LeaveAsync(
                new LeaveRequest { JobId = job.JobId, Rank = 0, RankSecret = secret }, job.Headers).ResponseAsync);
            await AssertRefusedForRank0Async("ReportFailure", c.Membership.ReportFailureAsync(new ReportFailureRequest
            {
                JobId = job.JobId, Rank = 0, WorldSize = 2, Host = "node-0", Pid = 4000, Message = "framed", RankSecret = secret,
            }, job.Headers).ResponseAsync);
        }
        // Rank 0 itself is still heard, and nothing the refused calls claimed was recorded.
        var own = await c.Membership.HeartbeatAsync(
            new HeartbeatRequest { JobId = job.JobId, Rank = 0, Step = 11, RankSecret = TestCoordinator.SecretOf(job.JobId, 0) }, job.Headers);
        Assert.Equal(JobState.Running, own.State);
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = job.JobId }, job.Headers);
        Assert.Equal(11, status.Members.Single(m => m.Rank == 0).Step);
        await job.AssertIntactAsync();
    }

    [Fact]
    public async Task ARejoinAsRank0WithItsHostAndPidButNotItsSecretIsRefusedAndTheScheduleStays()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c, schedule: s_schedule);
        // Status discloses rank 0's host and pid to every holder of the job's token.
        var rank0 = (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = job.JobId }, job.Headers)).Members.Single(m => m.Rank == 0);
        var forged = new JoinRequest
        {
            JobId = job.JobId, Rank = 0, WorldSize = 2, Host = rank0.Host, Pid = rank0.Pid,
            Schedule = new LearningRateSchedule(s_schedule) { BaseLearningRate = 1e6 },
            RankSecretSha256 = Protocol.RankSecret.Hash(Protocol.RankSecret.New()),
        };
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(forged, job.Headers).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, error.StatusCode);
        Assert.Contains("rank 0", error.Status.Detail);
        Assert.Contains("secret", error.Status.Detail);
        var served = await c.Schedule.GetScheduleAsync(new GetScheduleRequest { JobId = job.JobId }, job.Headers);
        Assert.Equal(0.01, served.Schedule.BaseLearningRate);

        // Rank 0's own retry (a lost reply) still succeeds: it carries its secret.
        var retry = job.JoinRequest(0, s_schedule);
        retry.RankSecret = TestCoordinator.SecretOf(job.JobId, 0);
        Assert.Equal(JobState.Running, (await c.Membership.JoinAsync(retry, job.Headers)).State);
        await job.AssertIntactAsync();
    }

    [Fact]
    public async Task RankSecretsSurviveACoordinatorRestart()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        await c.RestartAsync();

        await AssertRefusedForRank0Async("Heartbeat", c.Membership.HeartbeatAsync(
            new HeartbeatRequest { JobId = job.JobId, Rank = 0, RankSecret = TestCoordinator.SecretOf(job.JobId, 1) }, job.Headers).ResponseAsync);
        var own = await c.Membership.HeartbeatAsync(
            new HeartbeatRequest { JobId = job.JobId, Rank = 0, RankSecret = TestCoordinator.SecretOf(job.JobId, 0) }, job.Headers);
        Assert.Equal(JobState.Running, own.State);
        await job.AssertIntactAsync();
    }

    [Fact]
    public async Task AJoinWithoutASecretHashIsRefusedNamingTheField()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c, jobId: "victim", worldSize: 2);
        var other = TestCoordinator.HeadersFor(await c.CreateJobAsync("other", 1));
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(
            new JoinRequest { JobId = "other", Rank = 0, WorldSize = 1, Host = "h", Pid = 1 }, other).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("rank_secret_sha256", error.Status.Detail);
        await job.AssertIntactAsync();
    }

    private static async Task AssertRefusedForRank0Async(string call, Task attempt)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => attempt);
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Contains($"{call} for rank 0", error.Status.Detail);
        Assert.Contains("secret", error.Status.Detail);
    }
}
