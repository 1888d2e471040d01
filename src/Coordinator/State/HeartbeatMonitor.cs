using Microsoft.Extensions.Hosting;

namespace Adan.Coordinator.State;

/// <summary>Checks heartbeat deadlines every tenth of the timeout, so a silent rank is detected at most 10% late.</summary>
internal sealed class HeartbeatMonitor(JobRegistry jobs) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromMilliseconds(Math.Max(10, jobs.HeartbeatTimeout.TotalMilliseconds / 10));
        using var timer = new PeriodicTimer(period);
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
