namespace Adan.Sharded.Checkpoints;

/// <summary>
/// The two-phase commit of a sharded checkpoint, without naming the transport: every rank calls
/// <see cref="BeginAsync"/> and gets the same directory, writes and reports its shard; after all shards are durable
/// and reported (a collective), rank 0 calls <see cref="CommitAsync"/>, which writes <c>manifest.json</c> atomically.
/// Only a checkpoint with a manifest is committed; <see cref="LatestAsync"/> returns committed ones only.
/// </summary>
/// <remarks>
/// <see cref="LocalCheckpointCatalog"/> keeps the catalogue in the file system; the coordinator-backed catalogue
/// (<c>Adan.Coordinator.Client.CoordinatorCheckpointCatalog</c>) keeps it in the gRPC coordinator, which commits the
/// manifest rank 0 sends. Both commit through <see cref="CheckpointCommit"/>, so both write the same <c>manifest.json</c>.
/// </remarks>
public interface ICheckpointCatalog
{
    /// <summary>
    /// Opens the checkpoint of <paramref name="step"/>; every rank calls it and gets the same ticket. Throws
    /// <see cref="CheckpointException"/> when that step is already committed: a committed checkpoint is never
    /// overwritten.
    /// </summary>
    Task<CheckpointTicket> BeginAsync(long step, CancellationToken cancellationToken = default);

    /// <summary>Records this rank's shard, already written and fsynced under the ticket's directory.</summary>
    Task ReportShardAsync(CheckpointTicket ticket, CheckpointShard shard, CancellationToken cancellationToken = default);

    /// <summary>
    /// Rank 0, after every rank reported: commits <paramref name="manifest"/> through <see cref="CheckpointCommit"/>
    /// (the shard files are checked, then <c>manifest.json</c> is created atomically and never replaced), then applies
    /// retention.
    /// </summary>
    /// <param name="ticket">From <see cref="BeginAsync"/>.</param>
    /// <param name="manifest">The complete manifest, with every rank's shard (the coordinator checks them against the reports it received).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="CheckpointException">The commit was refused; the checkpoint stays uncommitted.</exception>
    Task CommitAsync(CheckpointTicket ticket, CheckpointManifest manifest, CancellationToken cancellationToken = default);

    /// <summary>Abandons an open checkpoint; the previous committed one stays the latest.</summary>
    Task AbortAsync(CheckpointTicket ticket, string reason, CancellationToken cancellationToken = default);

    /// <summary>The directory of the newest committed checkpoint, or null when there is none.</summary>
    Task<string?> LatestAsync(CancellationToken cancellationToken = default);
}
