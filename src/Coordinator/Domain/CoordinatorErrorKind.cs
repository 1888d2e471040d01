namespace Adan.Coordinator.Domain;

/// <summary>Why the coordinator refused an operation; the transport adapter turns each kind into its own status.</summary>
internal enum CoordinatorErrorKind
{
    /// <summary>A value the caller sent is malformed or out of range, whatever the state.</summary>
    InvalidArgument,

    /// <summary>The job, rank or checkpoint named does not exist.</summary>
    NotFound,

    /// <summary>The request is well formed but the state forbids it (job ended, shards missing, checkpoint aborted).</summary>
    FailedPrecondition,

    /// <summary>What the caller would create is already there and differs (a taken rank, a committed step).</summary>
    AlreadyExists,

    /// <summary>The caller's credentials do not allow this (another job's token, a path outside the permitted roots).</summary>
    PermissionDenied,

    /// <summary>A limit was reached (Watch streams per job); the caller may retry later.</summary>
    ResourceExhausted,

    /// <summary>The coordinator itself failed (the disk refused a write); the caller may retry.</summary>
    Internal,
}
