using System.Diagnostics;
using System.Globalization;
using Adan.Coordinator.Client;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Adan.Worker.Processes;

namespace Adan.Worker.Launch;

/// <summary>What the launcher prints for a failed job, and the host it names (null when none can be named).</summary>
/// <param name="Reason">Why it failed.</param>
/// <param name="Host">The host the failure is charged to, or null.</param>
/// <param name="Verdict">True when the coordinator failed the job (its reason); false for what the launcher saw.</param>
internal sealed record JobFailure(string Reason, string? Host, bool Verdict = false)
{
    /// <summary>How long, after mpiexec failed, the launcher waits for the coordinator to register closed connections.</summary>
    private static readonly TimeSpan s_disconnectSettleTime = TimeSpan.FromSeconds(2);

    /// <summary>
    /// After mpiexec failed before the coordinator failed the job: the rank whose connection to the coordinator closed
    /// first (its process died first, wherever it ran; MPI then ended the others), else the first death seen on this
    /// host while the job ran, else the ranks of this host whose processes are gone.
    /// </summary>
    /// <param name="status">A client of the job.</param>
    /// <param name="seenHere">The first death the launcher saw while the job ran, if any.</param>
    public static async Task<JobFailure?> DescribeAsync(CoordinatorClient status, JobFailure? seenHere)
    {
        try
        {
            var reply = await status.StatusAsync();
            // The ranks' connections closed as they died, but a busy coordinator may not have handled the closes yet.
            for (var wait = Stopwatch.StartNew(); reply.State != JobState.Failed && FirstDisconnected(reply) is null && reply.Members.Any(m => !m.Left)
                && wait.Elapsed < s_disconnectSettleTime;)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
                reply = await status.StatusAsync();
            }
            if (reply.State == JobState.Failed)
            {
                return new JobFailure(PrintableText.Of(reply.Reason), HostOfFailedRank(reply), Verdict: true);
            }
            if ((FirstDisconnected(reply) ?? seenHere) is { } first)
            {
                return first;
            }
            // Pids name processes of the host they ran on: only this host's can be looked up here.
            var dead = reply.Members.Where(m => !m.Left && m.Host == Environment.MachineName && !ProcessTree.IsAlive(m.Pid)).ToList();
            return dead.Count > 0
                // Which of them died first is not known here.
                ? new JobFailure($"{string.Join(", ", dead.Select(m => $"rank {m.Rank} ({m.Host} pid {m.Pid})"))} ended without leaving the job",
                    dead[0].Host)
                : null;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode is Grpc.Core.StatusCode.Unavailable or Grpc.Core.StatusCode.DeadlineExceeded)
        {
            // The ranks end on their own once their coordinator has been unreachable for the heartbeat timeout.
            return seenHere ?? new JobFailure($"the coordinator at {status.Address} does not answer", null);
        }
        catch (Grpc.Core.RpcException)
        {
            return seenHere;
        }
    }

    /// <summary>
    /// Closes this close together are one event: the coordinator stamps each when it handles it, so which of two ranks
    /// that died within a few milliseconds of each other went first is not known (a peer of a killed rank can crash
    /// on its next transfer at once).
    /// </summary>
    public const long SimultaneousMs = 5;

    /// <summary>
    /// The member whose connection to the coordinator closed first, charged with the failure, and the others that
    /// closed theirs after it (the ranks MPI ended); null when no member's connection closed. Members whose connections
    /// closed within <see cref="SimultaneousMs"/> of the first are named together, and their host is charged only
    /// when they share it.
    /// </summary>
    public static JobFailure? FirstDisconnected(JobStatusReply reply)
    {
        var lost = reply.Members.Where(m => !m.Left && m.DisconnectedMs >= 0).OrderByDescending(m => m.DisconnectedMs).ThenBy(m => m.Rank).ToList();
        if (lost.Count == 0)
        {
            return null;
        }
        var first = lost[0];
        var together = lost.TakeWhile(m => first.DisconnectedMs - m.DisconnectedMs < SimultaneousMs).ToList();
        var later = lost.Skip(together.Count).ToList();
        var after = later.Count == 0
            ? ""
            : string.Create(CultureInfo.InvariantCulture,
                $"; then {string.Join(", ", later.Select(m => $"rank {m.Rank} ({m.Host})"))}, {(first.DisconnectedMs - later[0].DisconnectedMs) / 1000.0:F2} s later or more");
        if (together.Count == 1)
        {
            return new JobFailure(
                $"rank {first.Rank} ({first.Host} pid {first.Pid}) was the first to lose its connection to the coordinator: its process ended or its host went down{after}",
                first.Host);
        }
        var hosts = together.Select(m => m.Host).Distinct().ToList();
        return new JobFailure(
            $"{string.Join(" and ", together.Select(m => $"rank {m.Rank} ({m.Host} pid {m.Pid})"))} were the first to lose their connections to the coordinator, "
            + $"within {SimultaneousMs} ms of each other (which went first is not known): their processes ended or their hosts went down{after}",
            hosts.Count == 1 ? hosts[0] : null);
    }

    /// <summary>The host of the rank a failed job is charged to, or null.</summary>
    public static string? HostOfFailedRank(JobStatusReply reply) =>
        reply.State == JobState.Failed ? reply.Members.FirstOrDefault(m => m.Rank == reply.FailedRank)?.Host : null;
}
