using Adan.Coordinator.V1;
using Microsoft.Data.Sqlite;

namespace Adan.Coordinator.Tests.Security;

/// <summary>A store error inside the heartbeat monitor is logged and retried; it never stops the coordinator.</summary>
public sealed class StoreFailureTests
{
    [Fact]
    public async Task ASqliteErrorInTheMonitorLoopDoesNotStopTheHostAndTheCheckIsRetried()
    {
        await using var c = await TestCoordinator.StartAsync(heartbeatTimeout: TimeSpan.FromSeconds(10));
        await c.JoinAllAsync("job", 1);
        using var watch = await c.WatchAsync("job");

        // Another connection hides the jobs table: the monitor's write of FAILED fails with "no such table".
        Execute(c, "ALTER TABLE jobs RENAME TO jobs_hidden");
        c.Time.Advance(TimeSpan.FromSeconds(30));
        await Task.Delay(500);
        c.Time.Advance(TimeSpan.FromSeconds(1));
        await Task.Delay(500);
        // The host still serves, and the job is not FAILED in memory while the store could not record it.
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, c.Headers);
        Assert.Equal(JobState.Running, status.State);

        Execute(c, "ALTER TABLE jobs_hidden RENAME TO jobs");
        c.Time.Advance(TimeSpan.FromSeconds(1));
        var failed = await TestCoordinator.NextAsync(watch, JobEventKind.JobFailed);
        Assert.Contains("rank 0", failed.Message);
        Assert.Equal(JobState.Failed, (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "job" }, c.Headers)).State);
    }

    private static void Execute(TestCoordinator c, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(c.DataDirectory, "coordinator.db"),
            Pooling = false,
        }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
