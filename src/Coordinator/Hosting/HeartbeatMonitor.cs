using Adan.Coordinator.Domain;
using Microsoft.Extensions.Hosting;

namespace Adan.Coordinator.Hosting;

/// <summary>
/// Applies the liveness rules (heartbeat, join and stall timeouts) every tenth of the shortest timeout, so a silent,
/// missing or stalled rank is detected at most 10% late.
/// </summary>
/// <remarks>
/// The period runs on the injected <see cref="TimeProvider"/>: under a fake clock a test advances time and the check
/// follows, with no wall-clock wait.
/// </remarks>
internal sealed class HeartbeatMonitor(JobRegistry jobs, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = jobs.CheckPeriod;
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                jobs.CheckTimeouts();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host shutdown.
        }
    }
}
