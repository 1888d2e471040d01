using Adan.Sharded.Checkpoints;
using Grpc.Core;

namespace Adan.Coordinator.Client;

/// <summary>
/// <see cref="ICheckpointCatalog"/> backed by the coordinator's Checkpoints service: every rank calls Begin (the
/// coordinator returns the one open checkpoint of the step to all of them, so no id has to be broadcast) and reports
/// its shard; rank 0 commits with the typed manifest, which the coordinator checks against the reports it received,
/// stamps with <c>job_id</c> and <c>checkpoint_id</c> and commits through <see cref="CheckpointCommit"/>, applying its
/// own keep-last-K (the coordinator's <c>--keep-last</c>) with <see cref="CheckpointRetention"/>.
/// </summary>
/// <remarks>
/// With <c>keepLast</c> the committing rank also applies the job's own keep-last-K to the checkpoint root after each
/// commit (<see cref="CheckpointRetention"/>, in the background), which counts checkpoints of earlier runs in that root
/// too: a coordinator started per launch knows only its own. <see cref="Dispose"/> waits for those deletions.
/// </remarks>
public sealed class CoordinatorCheckpointCatalog : ICheckpointCatalog, IDisposable
{
    private readonly CoordinatorClient _client;
    private readonly string? _checkpointRoot;
    private readonly CheckpointRetention? _retention;
    private readonly HashSet<string> _opened = new(StringComparer.Ordinal);

    /// <summary>Creates the catalogue over a joined client.</summary>
    /// <param name="client">This rank's coordinator client.</param>
    /// <param name="checkpointRoot">Absolute root of the job's checkpoints, or null for the coordinator's configured root.</param>
    /// <param name="keepLast">The job's keep-last-K over the checkpoint root (0: only the coordinator's retention).</param>
    public CoordinatorCheckpointCatalog(CoordinatorClient client, string? checkpointRoot = null, int keepLast = 0)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentOutOfRangeException.ThrowIfNegative(keepLast);
        _client = client;
        _checkpointRoot = checkpointRoot is null ? null : Path.GetFullPath(checkpointRoot);
        _retention = keepLast > 0 ? new CheckpointRetention(keepLast) : null;
    }

    /// <inheritdoc />
    public async Task<CheckpointTicket> BeginAsync(long step, CancellationToken cancellationToken = default)
    {
        try
        {
            var info = await _client.BeginCheckpointAsync(step, _checkpointRoot, cancellationToken).ConfigureAwait(false);
            if (!CheckpointFiles.IsStepDirectoryOf(info.Directory, _checkpointRoot, _client.JobId, step) || info.Step != step)
            {
                // The coordinator's reply must not make this rank write (or its retention delete) anywhere else.
                throw new CheckpointException(
                    $"the coordinator answered Begin of step {step} with directory '{info.Directory}' (step {info.Step}), not the step directory of " +
                    $"{(_checkpointRoot is null ? $"job '{_client.JobId}'" : $"the root '{_checkpointRoot}'")}; refusing to write there.");
            }
            lock (_opened)
            {
                _opened.Add(info.Directory);
            }
            return new CheckpointTicket(info.CheckpointId, info.Step, info.Directory);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.AlreadyExists or StatusCode.PermissionDenied or StatusCode.FailedPrecondition)
        {
            // A committed step, a directory that exists, a root another credential owns or another live job holds: the
            // coordinator's one line says which and why.
            throw new CheckpointException($"the coordinator refused to begin step {step}: {e.Status.Detail}", e);
        }
    }

    /// <inheritdoc />
    public async Task ReportShardAsync(CheckpointTicket ticket, CheckpointShard shard, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentNullException.ThrowIfNull(shard);
        await _client.ReportShardAsync(ticket.Id, shard.File, shard.Bytes, shard.Sha256, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>The coordinator checks the shard list against the reports it received and commits through the same
    /// <see cref="CheckpointCommit"/> as the local catalogue.</remarks>
    public async Task CommitAsync(CheckpointTicket ticket, CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentNullException.ThrowIfNull(manifest);
        try
        {
            await _client.CommitCheckpointAsync(ticket.Id, manifest, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.FailedPrecondition or StatusCode.InvalidArgument or StatusCode.AlreadyExists)
        {
            throw new CheckpointException($"the coordinator refused to commit {ticket.Directory}: {e.Status.Detail}", e);
        }
        if (_retention is not null)
        {
            lock (_opened)
            {
                _retention.Apply(_checkpointRoot ?? Path.GetDirectoryName(ticket.Directory) ?? ticket.Directory, written: _opened.ToHashSet(StringComparer.Ordinal));
            }
        }
    }

    /// <inheritdoc />
    public async Task AbortAsync(CheckpointTicket ticket, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        await _client.AbortCheckpointAsync(ticket.Id, reason, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<string?> LatestAsync(CancellationToken cancellationToken = default)
    {
        var latest = await _client.LatestCheckpointAsync(cancellationToken).ConfigureAwait(false);
        return latest is null || latest.Directory.Length == 0 ? null : latest.Directory;
    }

    /// <summary>Waits for the deletions the job's retention queued.</summary>
    public void Dispose() => _retention?.Dispose();
}
