namespace Adan.Coordinator.Domain;

/// <summary>Kinds of job event a watcher receives.</summary>
internal enum JobEventKind
{
    /// <summary>First event of every subscription: the state at that moment.</summary>
    Snapshot,

    /// <summary>A rank joined.</summary>
    MemberJoined,

    /// <summary>The last rank joined.</summary>
    JobRunning,

    /// <summary>A rank left cleanly.</summary>
    MemberLeft,

    /// <summary>A rank timed out; the event names it. Terminal.</summary>
    JobFailed,

    /// <summary>Every rank left. Terminal.</summary>
    JobFinished,

    /// <summary>A checkpoint of the job was committed.</summary>
    CheckpointCommitted,
}

/// <summary>Something that happened to a job, as its watchers see it.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="JobId">The job.</param>
/// <param name="State">State of the job after the event.</param>
/// <param name="Rank">The rank the event is about; -1 for the whole job.</param>
/// <param name="Message">Human-readable detail (the failure reason for <see cref="JobEventKind.JobFailed"/>).</param>
/// <param name="Time">When the coordinator recorded it.</param>
/// <param name="Step">Step of the committed checkpoint for <see cref="JobEventKind.CheckpointCommitted"/>; 0 otherwise.</param>
internal sealed record JobEvent(JobEventKind Kind, string JobId, JobState State, int Rank, string Message, DateTimeOffset Time, long Step)
{
    /// <summary>True for the events after which a job's stream ends.</summary>
    public bool IsTerminal => Kind is JobEventKind.JobFailed or JobEventKind.JobFinished;
}
