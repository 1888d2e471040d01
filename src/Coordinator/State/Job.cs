using System.Threading.Channels;
using Adan.Coordinator.V1;
using LearningRateSchedule = Adan.Sharded.Schedules.LearningRateSchedule;

namespace Adan.Coordinator.State;

/// <summary>In-memory state of one job. Every member is read and written under <see cref="Gate"/>.</summary>
internal sealed class Job(string jobId, int worldSize)
{
    public string JobId { get; } = jobId;

    public int WorldSize { get; } = worldSize;

    public object Gate { get; } = new();

    public JobState State { get; set; } = JobState.Pending;

    public string Reason { get; set; } = "";

    public LearningRateSchedule? Schedule { get; set; }

    /// <summary>Members by rank; null until that rank joins.</summary>
    public Member?[] Members { get; } = new Member?[worldSize];

    public List<Channel<JobEvent>> Watchers { get; } = [];

    public bool IsTerminal => State is JobState.Failed or JobState.Finished;

    public int JoinedCount => Members.Count(m => m is not null);

    /// <summary>Sends an event to every watcher; the caller holds <see cref="Gate"/> so watchers see events in order.</summary>
    public void Publish(JobEvent jobEvent)
    {
        foreach (var watcher in Watchers)
        {
            watcher.Writer.TryWrite(jobEvent);
        }
        if (IsTerminal)
        {
            foreach (var watcher in Watchers)
            {
                watcher.Writer.TryComplete();
            }
        }
    }

    public JobEvent NewEvent(JobEventKind kind, int rank, string message, long step = 0) => new()
    {
        Kind = kind,
        JobId = JobId,
        State = State,
        Rank = rank,
        Message = message,
        UnixTimeMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        Step = step,
    };
}
