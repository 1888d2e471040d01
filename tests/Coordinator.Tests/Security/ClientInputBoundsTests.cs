using Adan.Coordinator.V1;
using Grpc.Core;
using Microsoft.Data.Sqlite;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// Nothing a job token sends is unbounded: host names, failure messages and abort reasons have size limits and lose
/// their control characters, open checkpoints per job are capped, and an expired job's rows leave the store.
/// </summary>
public sealed class ClientInputBoundsTests
{
    [Fact]
    public async Task AHostOver255BytesIsRefusedNamingTheFieldAndTheLimit()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        var other = TestCoordinator.HeadersFor(await c.CreateJobAsync("other", 1));
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Membership.JoinAsync(new JoinRequest
        {
            JobId = "other", Rank = 0, WorldSize = 1, Host = new string('h', 256), Pid = 1,
            RankSecretSha256 = TestCoordinator.SecretHashOf("other", 0),
        }, other).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("host is 256 bytes", error.Status.Detail);
        Assert.Contains("255", error.Status.Detail);
        // Nothing was recorded: the same rank joins with a proper host.
        await c.Membership.JoinAsync(new JoinRequest
        {
            JobId = "other", Rank = 0, WorldSize = 1, Host = new string('h', 255), Pid = 1,
            RankSecretSha256 = TestCoordinator.SecretHashOf("other", 0),
        }, other);
        await job.AssertIntactAsync();
    }

    [Fact]
    public async Task A5KiBFailureMessageOrAbortReasonIsRefusedNamingTheFieldAndTheLimit()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        var huge = new string('x', 5 * 1024);
        var report = await Assert.ThrowsAsync<RpcException>(() => c.Membership.ReportFailureAsync(new ReportFailureRequest
        {
            JobId = job.JobId, Rank = 1, WorldSize = 2, Host = "node-1", Pid = 4001, Message = huge, RankSecret = TestCoordinator.SecretOf(job.JobId, 1),
        }, job.Headers).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, report.StatusCode);
        Assert.Contains("message is 5120 bytes", report.Status.Detail);
        Assert.Contains("4096", report.Status.Detail);

        var open = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = job.JobId, Step = 20 }, job.Headers);
        var abort = await Assert.ThrowsAsync<RpcException>(() => c.Checkpoints.AbortAsync(
            new AbortCheckpointRequest { JobId = job.JobId, CheckpointId = open.CheckpointId, Reason = huge }, job.Headers).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, abort.StatusCode);
        Assert.Contains("reason is 5120 bytes", abort.Status.Detail);
        await c.Checkpoints.AbortAsync(new AbortCheckpointRequest { JobId = job.JobId, CheckpointId = open.CheckpointId, Reason = "disk full" }, job.Headers);
        await job.AssertIntactAsync();
    }

    [Fact]
    public async Task TheClientCutsALongFailureReportToFitSoItStillFailsTheJobNamingTheRank()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        await using var rank1 = c.Client(job.JobId, 1, 2);
        var reason = await rank1.ReportFailureAsync("native error: " + new string('é', 10_000), TimeSpan.FromSeconds(10));
        Assert.NotNull(reason);
        Assert.StartsWith("rank 1 (test-host pid 1001) failed: native error: éé", reason);
        Assert.EndsWith("é…", reason);
        await job.AssertIntactAsync(JobState.Failed);
    }

    [Fact]
    public async Task ControlCharactersInAFailureReportAreReplacedInEverythingServed()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        using var watch = await c.WatchAsync(job.JobId);
        var reply = await c.Membership.ReportFailureAsync(new ReportFailureRequest
        {
            JobId = job.JobId, Rank = 1, WorldSize = 2, Host = "node-1\u001b]0;owned\u0007", Pid = 4001,
            Message = "out of memory\u001b[2J\r\nadan launch: job finished cleanly\u202Egnp.exe", RankSecret = TestCoordinator.SecretOf(job.JobId, 1),
        }, job.Headers);
        var failed = await TestCoordinator.NextAsync(watch, JobEventKind.JobFailed);
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = job.JobId }, job.Headers);
        foreach (var served in new[] { reply.Reason, failed.Message, status.Reason })
        {
            Assert.DoesNotContain(served, ch => char.IsControl(ch) || ch == '\u202E');
            Assert.Contains("out of memory [2J adan launch: job finished cleanly gnp.exe", served);
            Assert.Contains("node-1 ]0;owned ", served);
        }
        await job.AssertIntactAsync(JobState.Failed);
    }

    [Fact]
    public async Task AFloodOfBeginsForNewStepsIsCappedAndTheCommittedCheckpointStays()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        var open = new List<CheckpointInfo>();
        for (var next = 11; next <= 14; next++)
        {
            open.Add(await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = job.JobId, Step = next }, job.Headers));
        }
        var fifth = await Assert.ThrowsAsync<RpcException>(() => c.Checkpoints.BeginAsync(
            new BeginCheckpointRequest { JobId = job.JobId, Step = 15 }, job.Headers).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, fifth.StatusCode);
        Assert.Contains("4 open checkpoints (steps 11, 12, 13, 14)", fifth.Status.Detail);
        // A step already open is still served (every rank begins it), and aborting frees room.
        Assert.Equal(open[0].CheckpointId, (await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = job.JobId, Step = 11 }, job.Headers)).CheckpointId);
        foreach (var checkpoint in open)
        {
            await c.Checkpoints.AbortAsync(new AbortCheckpointRequest { JobId = job.JobId, CheckpointId = checkpoint.CheckpointId, Reason = "flood" }, job.Headers);
        }
        // Begin-and-abort does not get around it: 64 uncommitted checkpoints per job, then none.
        var step = 100L;
        RpcException? refused = null;
        for (; step < 200 && refused is null; step++)
        {
            try
            {
                var info = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = job.JobId, Step = step }, job.Headers);
                await c.Checkpoints.AbortAsync(new AbortCheckpointRequest { JobId = job.JobId, CheckpointId = info.CheckpointId, Reason = "flood" }, job.Headers);
            }
            catch (RpcException e)
            {
                refused = e;
            }
        }
        Assert.NotNull(refused);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("began 64 checkpoints it did not commit", refused.Status.Detail);
        Assert.Equal(100 + 60, step - 1);
        await job.AssertIntactAsync();
    }

    [Fact]
    public async Task AnExpiredJobsRowsArePrunedAndAnotherJobsStay()
    {
        var ttl = TimeSpan.FromMinutes(10);
        await using var c = await TestCoordinator.StartAsync(jobTtl: ttl);
        var job = await LegitimateJob.StartAsync(c);
        var ended = await LegitimateJob.StartAsync(c, jobId: "ended", worldSize: 1);
        var open = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "ended", Step = 11 }, ended.Headers);
        await c.Membership.LeaveAsync(new LeaveRequest { JobId = "ended", Rank = 0, RankSecret = TestCoordinator.SecretOf("ended", 0) }, ended.Headers);
        Assert.Equal(2, Count(c, "SELECT COUNT(*) FROM checkpoints WHERE job_id = 'ended'"));
        Assert.Equal(1, Count(c, "SELECT COUNT(*) FROM shards WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE job_id = 'ended')"));

        c.Time.Advance(ttl + TimeSpan.FromSeconds(10));
        Assert.True(await JobTokenTests.EventuallyAsync(() => Task.FromResult(Count(c, "SELECT COUNT(*) FROM jobs WHERE job_id = 'ended'") == 0)),
            "the ended job was not forgotten after its TTL");
        Assert.Equal(0, Count(c, "SELECT COUNT(*) FROM checkpoints WHERE job_id = 'ended'"));
        Assert.Equal(0, Count(c, $"SELECT COUNT(*) FROM shards WHERE checkpoint_id IN ({ended.Committed.CheckpointId}, {open.CheckpointId})"));
        Assert.Equal(0, Count(c, "SELECT COUNT(*) FROM members WHERE job_id = 'ended'"));
        // The files stay: they are what a later job resumes from.
        Assert.True(File.Exists(ended.Committed.ManifestPath));
        Assert.Equal(2, Count(c, $"SELECT COUNT(*) FROM shards WHERE checkpoint_id = {job.Committed.CheckpointId}"));
        // The other job's ranks were silent through the ten minutes the clock moved, so it failed; it has not expired.
        await job.AssertIntactAsync(JobState.Failed);
    }

    private static long Count(TestCoordinator c, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(c.DataDirectory, "coordinator.db"),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }
}
