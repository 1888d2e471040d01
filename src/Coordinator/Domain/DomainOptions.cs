namespace Adan.Coordinator.Domain;

/// <summary>The policies of the job registry and the checkpoint catalogue, apart from how the coordinator is reached.</summary>
internal sealed record DomainOptions
{
    /// <summary>Root of checkpoint directories when Begin names none (<c>&lt;root&gt;/&lt;job&gt;/step-…</c>); absolute.</summary>
    public required string CheckpointRoot { get; init; }

    /// <summary>A rank silent for longer than this fails its job.</summary>
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Committed checkpoints kept per job after each commit; 0 keeps all.</summary>
    public int KeepLast { get; init; } = 3;
}
