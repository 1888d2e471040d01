using System.Threading.Channels;
using Adan.Sharded.Schedules;

namespace Adan.Coordinator.Domain;

/// <summary>In-memory state of one job. Every member is read and written under <see cref="Gate"/>.</summary>
internal sealed class Job(string jobId, int worldSize)
{
    public string JobId { get; } = jobId;

    public int WorldSize { get; } = worldSize;

    public Lock Gate { get; } = new();

    public JobState State { get; set; } = JobState.Pending;

    public string Reason { get; set; } = "";

    public LearningRateSchedule? Schedule { get; set; }

    /// <summary>SHA-256 (lowercase hex) of the job's own token; null for a job an operator created by joining it.</summary>
    public string? TokenHash { get; init; }

    /// <summary>When the job reached FAILED or FINISHED; it is forgotten a TTL later.</summary>
    public DateTimeOffset? EndedAt { get; set; }

    /// <summary>Restarts of the launch before this attempt (elastic restart makes each attempt a job of its own).</summary>
    public int Restarts { get; init; }

    /// <summary>The rank the failure is charged to; -1 unless FAILED or when no single rank caused it.</summary>
    public int FailedRank { get; set; } = -1;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> of its creation (or of the coordinator's restart): the join timeout's start.</summary>
    public long Created { get; set; }

    /// <summary>Members by rank; null until that rank joins.</summary>
    public Member?[] Members { get; } = new Member?[worldSize];

    public List<Channel<JobEvent>> Watchers { get; } = [];

    /// <summary>
    /// Watch handlers running now: counted from subscription to the handler's end, not while the channel is in
    /// <see cref="Watchers"/>, so a stream that <see cref="Publish"/> dropped (or ended) counts until its handler returns
    /// and reopening dropped streams cannot exceed the limit.
    /// </summary>
    public int WatchStreams { get; set; }

    public bool IsTerminal => State is JobState.Failed or JobState.Finished;

    public int JoinedCount => Members.Count(m => m is not null);

    /// <summary>Moves the job to a terminal state; the caller holds <see cref="Gate"/>.</summary>
    public void End(JobState state, string reason, DateTimeOffset at)
    {
        State = state;
        Reason = reason;
        EndedAt = at;
    }

    /// <summary>
    /// Sends an event to every watcher and ends their streams after a terminal one; the caller holds <see cref="Gate"/>
    /// so watchers see events in order.
    /// </summary>
    /// <remarks>
    /// Streams end on the terminal event, not on the terminal state: the registry sets FAILED before it aborts the
    /// job's open checkpoints and publishes JOB_FAILED only afterwards, and an event published in between must not
    /// end a stream before JOB_FAILED reaches it.
    /// </remarks>
    public void Publish(JobEvent jobEvent)
    {
        // A full buffer is a watcher that stopped reading: its stream ends (the client re-subscribes and starts from a
        // snapshot) rather than the coordinator holding events for it without bound.
        Watchers.RemoveAll(watcher =>
        {
            var delivered = watcher.Writer.TryWrite(jobEvent);
            if (!delivered || jobEvent.IsTerminal)
            {
                watcher.Writer.TryComplete();
                return true;
            }
            return false;
        });
    }

    public JobEvent NewEvent(JobEventKind kind, int rank, string message, DateTimeOffset time, long step = 0) =>
        new(kind, JobId, State, rank, message, time, step);
}
