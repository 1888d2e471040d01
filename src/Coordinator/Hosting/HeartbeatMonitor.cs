using Adan.Coordinator.Domain;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.Hosting;

/// <summary>
/// Applies the liveness rules (heartbeat, join and stall timeouts) every tenth of the shortest timeout, so a silent,
/// missing or stalled rank is detected at most 10% late, and forgets jobs whose TTL after their end has passed.
/// </summary>
/// <remarks>
/// The period runs on the injected <see cref="TimeProvider"/>: under a fake clock a test advances time and the check
/// follows, with no wall-clock wait. A failure inside one check (the store refusing a write: disk full, a locked or
/// damaged database) is logged and the check runs again at the next tick: an exception escaping a hosted service
/// would stop the whole coordinator, and with it every job it serves.
/// </remarks>
internal sealed class HeartbeatMonitor(JobRegistry jobs, JobSubmitters submitters, TimeProvider time, ILogger<HeartbeatMonitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = jobs.CheckPeriod;
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                RunOnce("heartbeat deadlines", jobs.CheckTimeouts);
                RunOnce("job expiry", () => submitters.Forget(jobs.ExpireJobs()));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host shutdown.
        }
    }

    private void RunOnce(string what, Action check)
    {
        try
        {
            check();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError("Checking {What} failed, retrying at the next tick: {Error}", what, e.Message);
        }
    }
}
