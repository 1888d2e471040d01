namespace Adan.Coordinator.Domain;

/// <summary>Lifecycle of a checkpoint in the catalogue.</summary>
/// <remarks>The values are stored in the catalogue, so they never change.</remarks>
internal enum CheckpointState
{
    /// <summary>Begun, shards arriving; never the latest.</summary>
    Open = 1,

    /// <summary>manifest.json written; loadable.</summary>
    Committed = 2,

    /// <summary>Abandoned: aborted by a rank, or its job failed while it was open.</summary>
    Aborted = 3,

    /// <summary>Committed, then removed by retention or by hand.</summary>
    Deleted = 4,
}
