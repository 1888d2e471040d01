namespace Adan.Coordinator.Domain;

/// <summary>
/// Lifecycle of a job: PENDING until every rank joined, then RUNNING; FAILED (a rank went silent) and FINISHED (every
/// rank left) are terminal.
/// </summary>
/// <remarks>The values are stored in the catalogue, so they never change.</remarks>
internal enum JobState
{
    /// <summary>Waiting for ranks to join.</summary>
    Pending = 1,

    /// <summary>Every rank joined.</summary>
    Running = 2,

    /// <summary>A rank missed its heartbeat deadline; every other rank must abort.</summary>
    Failed = 3,

    /// <summary>Every rank left.</summary>
    Finished = 4,
}
