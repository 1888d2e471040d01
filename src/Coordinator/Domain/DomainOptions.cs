namespace Adan.Coordinator.Domain;

/// <summary>The policies of the job registry and the checkpoint catalogue, apart from how the coordinator is reached.</summary>
internal sealed record DomainOptions
{
    /// <summary>Root of checkpoint directories when Begin names none (<c>&lt;root&gt;/&lt;job&gt;/step-…</c>); absolute.</summary>
    public required string CheckpointRoot { get; init; }

    /// <summary>A rank silent for longer than this fails its job.</summary>
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A running job with a rank that makes no progress for this long fails; null is adaptive (ten times the longest
    /// interval between progress marks seen, at least 60 s; see <see cref="Protocol.JobTimeouts.AdaptiveStall"/>).
    /// </summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>A job still PENDING (a rank never joined) this long after its first rank joined fails.</summary>
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(Protocol.JobTimeouts.DefaultJoinSeconds);

    /// <summary>Committed checkpoints kept per job after each commit; 0 keeps all.</summary>
    public int KeepLast { get; init; } = 3;

    /// <summary>How long a FAILED or FINISHED job (and its token) is kept for status queries before it is forgotten.</summary>
    public TimeSpan JobTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Concurrent Watch streams allowed per job; null for world size + <see cref="Protocol.CoordinatorLimits.ExtraWatchStreams"/>.</summary>
    public int? MaxWatchStreamsPerJob { get; init; }

    /// <summary>The coordinator's own host, named when it loses every rank's host at once (its link is the likelier fault).</summary>
    public string CoordinatorHost { get; init; } = Environment.MachineName;

    /// <summary>Where checkpoint directories may be created, besides the data directory; absolute. Empty: only <see cref="CheckpointRoot"/>.</summary>
    public IReadOnlyList<string> AllowedRoots { get; init; } = [];
}
