using Adan.Sharded.Checkpoints;

namespace Adan.Coordinator.Domain;

/// <summary>What a rank learns from joining.</summary>
/// <param name="State">State of the job after the join (RUNNING once the last rank joined).</param>
/// <param name="Joined">Ranks joined so far, this one included.</param>
/// <param name="HeartbeatInterval">How often the rank should heartbeat.</param>
/// <param name="HeartbeatTimeout">Silence after which the rank fails its job.</param>
internal sealed record JoinResult(JobState State, int Joined, TimeSpan HeartbeatInterval, TimeSpan HeartbeatTimeout);

/// <summary>A job's state and, when it failed, why.</summary>
internal sealed record JobCondition(JobState State, string Reason);

/// <summary>One member of a job as a status report shows it.</summary>
/// <param name="Rank">Its rank.</param>
/// <param name="Host">Host it joined from.</param>
/// <param name="Pid">Process id on that host.</param>
/// <param name="Silence">Time since its last heartbeat or join; null once it left.</param>
/// <param name="Step">Last step it reported; -1 if unknown.</param>
/// <param name="Left">True once it left.</param>
/// <param name="Disconnection">
/// Time since its connection (its Watch stream) closed from its side while it was a member of a live job; null while it
/// is connected, before it first watches, once it left and once the job ended.
/// </param>
internal sealed record MemberStatus(int Rank, string Host, int Pid, TimeSpan? Silence, long Step, bool Left, TimeSpan? Disconnection = null);

/// <summary>A job's state and members.</summary>
internal sealed record JobStatus(string JobId, JobState State, int WorldSize, string Reason, IReadOnlyList<MemberStatus> Members)
{
    /// <summary>Restarts of the launch before this attempt.</summary>
    public int Restarts { get; init; }

    /// <summary>The rank the failure is charged to, or -1.</summary>
    public int FailedRank { get; init; } = -1;
}

/// <summary>How many shards of a checkpoint arrived, of how many needed.</summary>
internal sealed record ShardProgress(int Received, int WorldSize);

/// <summary>One checkpoint of the catalogue.</summary>
/// <param name="Id">Catalogue id, unique per data directory.</param>
/// <param name="JobId">The job.</param>
/// <param name="Step">Optimizer step it captures.</param>
/// <param name="State">Where it is in its lifecycle.</param>
/// <param name="Directory">Absolute directory holding the shards and manifest.json.</param>
/// <param name="ManifestPath">Absolute path of manifest.json; empty until committed.</param>
/// <param name="WorldSize">Shards needed.</param>
/// <param name="Shards">Reported shards, by rank.</param>
/// <param name="CommittedAt">When it was committed; null if never.</param>
internal sealed record CheckpointRecord(
    long Id, string JobId, long Step, CheckpointState State, string Directory, string ManifestPath, int WorldSize,
    IReadOnlyList<CheckpointShard> Shards, DateTimeOffset? CommittedAt);
