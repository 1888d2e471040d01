using Adan.Coordinator.V1;
using Grpc.Core;
using Grpc.Health.V1;

namespace Adan.Coordinator.Tests;

public sealed class AuthTests
{
    public static TheoryData<string> Rpcs =>
    [
        "Join", "Heartbeat", "Leave", "Watch", "LearningRate", "GetSchedule",
        "Begin", "ReportShard", "Commit", "Abort", "Latest", "List", "Status",
    ];

    [Theory]
    [MemberData(nameof(Rpcs))]
    public async Task EveryRpcRefusesMissingAndWrongToken(string rpc)
    {
        await using var coordinator = await TestCoordinator.StartAsync();
        foreach (var headers in new[] { new Metadata(), new Metadata { { "authorization", "Bearer wrong-token" } }, new Metadata { { "authorization", TestCoordinator.Token } } })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => Call(coordinator, rpc, headers));
            Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        }
        // Nothing changed: the Join attempts above did not create the job.
        var status = await Assert.ThrowsAsync<RpcException>(() =>
            coordinator.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, coordinator.Headers).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, status.StatusCode);
    }

    [Fact]
    public async Task HealthServesWithoutToken()
    {
        await using var coordinator = await TestCoordinator.StartAsync();
        var reply = await new Health.HealthClient(coordinator.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    private static async Task Call(TestCoordinator c, string rpc, Metadata headers)
    {
        const string job = "job";
        switch (rpc)
        {
            case "Join":
                await c.Membership.JoinAsync(new JoinRequest { JobId = job, Rank = 0, WorldSize = 1, Host = "h", Pid = 1, RankSecretSha256 = TestCoordinator.SecretHashOf(job, 0) }, headers);
                break;
            case "Heartbeat":
                await c.Membership.HeartbeatAsync(new HeartbeatRequest { JobId = job }, headers);
                break;
            case "Leave":
                await c.Membership.LeaveAsync(new LeaveRequest { JobId = job }, headers);
                break;
            case "Watch":
                using (var call = c.Membership.Watch(new WatchRequest { JobId = job }, headers))
                {
                    await call.ResponseStream.MoveNext(CancellationToken.None);
                }
                break;
            case "LearningRate":
                await c.Schedule.LearningRateAsync(new LearningRateRequest { JobId = job }, headers);
                break;
            case "GetSchedule":
                await c.Schedule.GetScheduleAsync(new GetScheduleRequest { JobId = job }, headers);
                break;
            case "Begin":
                await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = job }, headers);
                break;
            case "ReportShard":
                await c.Checkpoints.ReportShardAsync(new ReportShardRequest { JobId = job }, headers);
                break;
            case "Commit":
                await c.Checkpoints.CommitAsync(new CommitCheckpointRequest { JobId = job }, headers);
                break;
            case "Abort":
                await c.Checkpoints.AbortAsync(new AbortCheckpointRequest { JobId = job }, headers);
                break;
            case "Latest":
                await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = job }, headers);
                break;
            case "List":
                await c.Checkpoints.ListAsync(new ListCheckpointsRequest { JobId = job }, headers);
                break;
            case "Status":
                await c.Jobs.StatusAsync(new JobStatusRequest { JobId = job }, headers);
                break;
            default:
                throw new ArgumentException($"unknown rpc {rpc}", nameof(rpc));
        }
    }
}
