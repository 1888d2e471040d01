using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// A checkpoint catalogue kept in the file system alone (no coordinator): checkpoint directories are
/// <c>&lt;root&gt;/step-&lt;step:D10&gt;</c>, a directory is committed exactly when it holds <c>manifest.json</c>, which
/// rank 0 writes atomically after every rank's shard is durable. The root must be a file system every rank sees.
/// </summary>
/// <remarks>
/// Retention (<see cref="CheckpointRetention"/>) runs in the background after a commit, so deleting old checkpoints
/// never blocks training; <see cref="Dispose"/> and <see cref="WhenRetentionDone"/> wait for it.
/// </remarks>
public sealed class LocalCheckpointCatalog : ICheckpointCatalog, IDisposable
{
    private readonly CheckpointRetention? _retention;
    private readonly HashSet<string> _opened = new(StringComparer.Ordinal);

    /// <summary>Creates a catalogue under <paramref name="root"/> (created when missing).</summary>
    /// <param name="root">The job's checkpoint root.</param>
    /// <param name="keepLast">Committed checkpoints to keep (older committed ones are deleted after a commit); 0 keeps all.</param>
    public LocalCheckpointCatalog(string root, int keepLast = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (keepLast < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(keepLast), keepLast, "keep-last must be ≥ 0 (0 keeps every checkpoint).");
        }
        Root = Path.GetFullPath(root);
        KeepLast = keepLast;
        _retention = keepLast > 0 ? new CheckpointRetention(keepLast) : null;
    }

    /// <summary>The absolute checkpoint root.</summary>
    public string Root { get; }

    /// <summary>Committed checkpoints kept by retention (0 = all).</summary>
    public int KeepLast { get; }

    /// <inheritdoc />
    public Task<CheckpointTicket> BeginAsync(long step, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        var directory = CheckpointFiles.StepDirectory(Root, step);
        if (CheckpointFiles.IsCommitted(directory))
        {
            throw new CheckpointException($"{directory} is already a committed checkpoint of step {step}; a committed checkpoint is never overwritten.");
        }
        // Every rank creates it; an uncommitted leftover of a crashed save of the same step is reused (its shards are
        // rewritten), a link in its place is refused.
        Directory.CreateDirectory(Root);
        try
        {
            NoFollowFiles.CreateDirectory(directory).Dispose();
        }
        catch (IOException e)
        {
            throw new CheckpointException($"cannot begin the checkpoint of step {step}: {e.Message}", e);
        }
        lock (_opened)
        {
            _opened.Add(directory);
        }
        return Task.FromResult(new CheckpointTicket(step, step, directory));
    }

    /// <inheritdoc />
    /// <remarks>Nothing to record: the shard list reaches rank 0 through the save's all-reduce and is written at commit.</remarks>
    public Task ReportShardAsync(CheckpointTicket ticket, CheckpointShard shard, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <inheritdoc />
    public Task CommitAsync(CheckpointTicket ticket, CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        CheckpointCommit.Commit(ticket.Directory, manifest);
        if (_retention is not null)
        {
            lock (_opened)
            {
                // Only this job's own failed saves are swept uncommitted; anyone else's may still be in progress.
                _retention.Apply(Root, written: _opened.ToHashSet(StringComparer.Ordinal));
            }
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    /// <remarks>Deletes the uncommitted directory; called after every rank stopped writing.</remarks>
    public Task AbortAsync(CheckpointTicket ticket, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        if (!CheckpointFiles.IsCommitted(ticket.Directory))
        {
            NoFollowFiles.DeleteDirectory(ticket.Directory);
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<string?> LatestAsync(CancellationToken cancellationToken = default)
    {
        var committed = CheckpointFiles.Committed(Root);
        return Task.FromResult(committed.Count == 0 ? null : committed[^1].Directory);
    }

    /// <summary>Completes when the deletions queued by retention so far are done.</summary>
    public Task WhenRetentionDone() => _retention?.WhenDone() ?? Task.CompletedTask;

    /// <summary>Waits for retention's queued deletions.</summary>
    public void Dispose() => _retention?.Dispose();
}
