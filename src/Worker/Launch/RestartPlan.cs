using System.Globalization;

namespace Adan.Worker.Launch;

/// <summary>
/// The shape of the next attempt of an elastic restart (<c>adan launch --max-restarts</c>): by default the same ranks on
/// the same hosts; with <c>--hostfile</c> and <c>--min-ranks</c>, without the host that failed, on the slots left, with
/// the accumulation raised so that the global batch (ranks × micro_batch × accumulation) stays what the job started with.
/// </summary>
/// <param name="Ranks">Ranks of the attempt.</param>
/// <param name="Hosts">Its hosts; null without a hostfile.</param>
/// <param name="Accumulation">Its accumulation steps; null to keep the command's own.</param>
internal sealed record RestartPlan(int Ranks, Hostfile? Hosts, int? Accumulation)
{
    /// <summary>
    /// The next attempt after one that failed on <paramref name="failedHost"/> (null when no host could be named).
    /// </summary>
    /// <param name="failedHost">The host the coordinator charged the failure to.</param>
    /// <param name="minRanks">The fewest ranks to restart on; null restarts at the same shape.</param>
    /// <param name="globalBatch">The job's global batch: first ranks × micro_batch × accumulation.</param>
    /// <param name="microBatch">The command's micro_batch.</param>
    /// <returns>The plan, or the one-line reason no restart is possible (naming the numbers and the fix).</returns>
    public (RestartPlan? Plan, string? Refusal) Next(string? failedHost, int? minRanks, long globalBatch, int microBatch)
    {
        if (minRanks is not { } min || Hosts is null || failedHost is null)
        {
            return (this, null);
        }
        var (remaining, dropped) = Hosts.Without(failedHost);
        if (!dropped)
        {
            // Not a host of the hostfile under that name (an address, an alias): nothing to drop, the same hosts again.
            return (this, null);
        }
        var ranks = Math.Min(Ranks, remaining.Slots);
        if (ranks < min)
        {
            return (null, $"without {failedHost}, {remaining.Slots} slot(s) are left on {remaining.Hosts.Count} host(s), fewer than --min-ranks {min}; "
                + "add hosts to the hostfile or lower --min-ranks");
        }
        var perAccumulationStep = (long)ranks * microBatch;
        if (globalBatch % perAccumulationStep != 0)
        {
            return (null, string.Create(CultureInfo.InvariantCulture,
                $"cannot keep the global batch {globalBatch} on {ranks} rank(s): {ranks} × micro_batch {microBatch} = {perAccumulationStep} does not divide it; "
                + $"use a micro_batch that divides {globalBatch} / {ranks} for every rank count down to --min-ranks {min}, or raise --min-ranks"));
        }
        return (new RestartPlan(ranks, remaining, checked((int)(globalBatch / perAccumulationStep))), null);
    }
}
