using System.Globalization;

namespace Adan.Coordinator.Domain;

/// <summary>
/// The rules that fail a live job: a rank silent past the heartbeat timeout, a rank whose connection closed from its
/// side and that has not been heard from for half the timeout since, a job still PENDING past the join timeout, a
/// running rank that makes no progress for the stall timeout.
/// </summary>
/// <remarks>
/// Heartbeats come from a background thread of each rank, so they prove that the process lives, not that it trains: a
/// rank whose training thread is stuck (a hung file system, a deadlock) keeps heartbeating while every other rank waits
/// for it in a collective. Progress marks (one per step, and at the start and end of each save and evaluation) are
/// what the stall rule watches. A rank's stall clock starts at its first mark, so loading data and a checkpoint before
/// the first step are covered by the heartbeat and the collectives only.
/// </remarks>
internal sealed class JobLiveness(DomainOptions options, TimeProvider time)
{
    /// <summary>The first rule <paramref name="job"/> breaks at <paramref name="now"/>: the rank it names (-1 for none) and why; null when none.</summary>
    /// <remarks>The caller holds the job's lock and has checked that the job is not terminal.</remarks>
    public (int Rank, string Reason)? Violation(Job job, long now) =>
        Disconnected(job, now) ?? Silent(job, now) ?? NeverJoined(job, now) ?? Stalled(job, now);

    /// <summary>The stall timeout <paramref name="job"/> runs under now: the configured one, or the adaptive one.</summary>
    public TimeSpan StallTimeout(Job job) => options.StallTimeout
        ?? Protocol.JobTimeouts.AdaptiveStall(job.Members.OfType<Member>().Select(m => m.LongestProgressInterval).DefaultIfEmpty().Max());

    private (int, string)? Silent(Job job, long now)
    {
        var members = job.Members.OfType<Member>().Where(m => !m.Left).Select(m => (Member: m, Silence: time.GetElapsedTime(m.LastSeen, now))).ToList();
        var silent = members.Where(s => s.Silence > options.HeartbeatTimeout).OrderByDescending(s => s.Silence).ToList();
        var hosts = job.Members.OfType<Member>().Select(m => m.Host).Distinct().ToList();
        // Every rank on every host quiet for at least half the timeout (a missed heartbeat or more: they come every third
        // of it) when the first passes it: they went quiet together, and what the coordinator lost is more likely its own
        // link than all those hosts at once. No one rank is charged (an elastic restart then drops no host). Not when a rank's
        // connection closed from its side: the coordinator heard that, so its network works.
        if (silent.Count > 0 && members.Count == job.WorldSize && hosts.Count > 1 && members.All(s => s.Silence > options.HeartbeatTimeout / 2)
            && members.All(s => s.Member.Disconnected is null))
        {
            var quiet = string.Create(CultureInfo.InvariantCulture,
                $"sent no heartbeat for {members.Min(s => s.Silence).TotalSeconds:F1} s or more (timeout {options.HeartbeatTimeout.TotalSeconds:G} s)");
            return (-1, $"all {members.Count} ranks, on {string.Join(", ", hosts)}, {quiet}: the coordinator lost every host at once (the network of its own host, {options.CoordinatorHost}, or the whole job ended)");
        }
        return silent.FirstOrDefault().Member is { } member
            ? (member.Rank, string.Create(CultureInfo.InvariantCulture,
                $"rank {member.Rank} ({member.Host} pid {member.Pid}) sent no heartbeat for {silent[0].Silence.TotalSeconds:F1} s (timeout {options.HeartbeatTimeout.TotalSeconds:G} s)"))
            : null;
    }

    /// <summary>
    /// A rank whose connection (its Watch stream) closed from its side and that has not been heard from for half the
    /// heartbeat timeout since (one and a half heartbeat intervals): its process ended or its host went down, and no
    /// other rule has noticed yet (a launcher other than Hydra, or a Hydra waiting for hosts that vanished). The first to
    /// close is charged. A rank that lives reconnects, or heartbeats within that time; a heartbeat that was already in
    /// flight when the rank died only restarts the wait.
    /// </summary>
    private (int, string)? Disconnected(Job job, long now)
    {
        var closed = job.Members
            .OfType<Member>()
            .Where(m => !m.Left && m.Disconnected is { } lost && time.GetElapsedTime(Math.Max(lost, m.LastSeen), now) >= options.HeartbeatTimeout / 2)
            .OrderBy(m => m.Disconnected)
            .FirstOrDefault();
        if (closed is null)
        {
            return null;
        }
        var lostAgo = time.GetElapsedTime(closed.Disconnected!.Value, now);
        var quiet = time.GetElapsedTime(Math.Max(closed.Disconnected.Value, closed.LastSeen), now);
        return (closed.Rank, string.Create(CultureInfo.InvariantCulture,
            $"rank {closed.Rank} ({closed.Host} pid {closed.Pid}) was the first to lose its connection to the coordinator, {lostAgo.TotalSeconds:F1} s ago, "
            + $"and has not been heard from for {quiet.TotalSeconds:F1} s (heartbeat timeout {options.HeartbeatTimeout.TotalSeconds:G} s): its process ended or its host went down"));
    }

    private (int, string)? NeverJoined(Job job, long now)
    {
        var waited = time.GetElapsedTime(job.Created, now);
        if (job.State != JobState.Pending || waited <= options.JoinTimeout)
        {
            return null;
        }
        var missing = Enumerable.Range(0, job.WorldSize).Where(rank => job.Members[rank] is null).ToList();
        var ranks = missing.Count == 1 ? $"rank {missing[0]}" : $"ranks {string.Join(", ", missing)}";
        return (missing.FirstOrDefault(-1),
            $"{ranks} of {job.WorldSize} never joined: the job waited {Seconds(waited)} s (join timeout {Seconds(options.JoinTimeout)} s)");
    }

    private (int, string)? Stalled(Job job, long now)
    {
        if (job.State != JobState.Running)
        {
            return null;
        }
        var timeout = StallTimeout(job);
        var stalled = job.Members
            .OfType<Member>()
            .Where(m => !m.Left && m.Progress > 0)
            .Select(m => (Member: m, Still: time.GetElapsedTime(m.LastProgress, now)))
            .Where(s => s.Still > timeout)
            // All ranks stop when one does (the others wait for it in a collective); the one furthest behind is the suspect.
            .OrderBy(s => s.Member.Step)
            .ThenByDescending(s => s.Still)
            .FirstOrDefault();
        if (stalled.Member is not { } member)
        {
            return null;
        }
        var kind = options.StallTimeout is null ? "adaptive stall timeout" : "stall timeout";
        return (member.Rank,
            $"rank {member.Rank} ({member.Host} pid {member.Pid}) made no progress for {Seconds(stalled.Still)} s after step {member.Step} ({kind} {Seconds(timeout)} s)");
    }

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);
}
