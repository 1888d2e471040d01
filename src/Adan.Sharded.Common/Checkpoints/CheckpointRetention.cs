using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Keep-last-K for a checkpoint root, whoever commits there (the local catalogue, the trainer's rank 0 after a
/// coordinator commit, or the coordinator itself) and whichever run wrote the older checkpoints: the file system is the
/// record, so checkpoints of earlier runs in the same root count too. Deletion runs in the background
/// (<see cref="BackgroundDeleter"/>), manifest first, so a directory being deleted is never mistaken for a committed one.
/// </summary>
public sealed class CheckpointRetention : IDisposable
{
    private readonly BackgroundDeleter _deleter;

    /// <summary>Creates the policy.</summary>
    /// <param name="keepLast">Committed checkpoints to keep (≥ 1).</param>
    /// <param name="onError">Told of a directory that could not be deleted (it stays); default: a warning on stderr.</param>
    public CheckpointRetention(int keepLast, Action<string, Exception>? onError = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        KeepLast = keepLast;
        _deleter = new BackgroundDeleter(CheckpointManifest.FileName,
            onError ?? ((directory, e) => Console.Error.WriteLine($"warning: retention could not delete {directory}: {e.Message}")));
    }

    /// <summary>Committed checkpoints kept.</summary>
    public int KeepLast { get; }

    /// <summary>
    /// The directories of <paramref name="root"/> that keep-last-<paramref name="keepLast"/> removes: committed
    /// checkpoints older than the newest <paramref name="keepLast"/>, and uncommitted directories older than the
    /// newest commit that this job itself opened (<paramref name="written"/>: left by one of its saves that failed, no
    /// save of it can still be writing those). Uncommitted directories of anyone else, those newer than the newest
    /// commit, and those in <paramref name="keep"/> are left alone: an uncommitted directory may be another job's save
    /// in progress.
    /// </summary>
    /// <param name="root">The checkpoint root (holding <c>step-*</c> directories).</param>
    /// <param name="keepLast">Committed checkpoints to keep (≥ 1).</param>
    /// <param name="keep">Directories never to remove (e.g. checkpoints still open); null for none.</param>
    /// <param name="written">Directories this job opened; only those may be removed uncommitted. Null for none.</param>
    /// <param name="owned">
    /// When given, the committed checkpoints that count and may be removed: those of the root's owner (the coordinator's
    /// record); any other committed checkpoint in the root is neither counted nor touched. Null: every one in the root.
    /// </param>
    public static IReadOnlyList<string> Plan(string root, int keepLast, IReadOnlySet<string>? keep = null, IReadOnlySet<string>? written = null,
        IReadOnlySet<string>? owned = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        var committed = CheckpointFiles.Committed(root).Where(c => owned?.Contains(c.Directory) != false).ToList();
        if (committed.Count == 0)
        {
            return [];
        }
        var newest = committed[^1].Step;
        var kept = committed.TakeLast(keepLast).Select(c => c.Directory).ToHashSet(StringComparer.Ordinal);
        return [.. CheckpointFiles.StepDirectories(root)
            .Where(c => c.Step < newest && !kept.Contains(c.Directory) && keep?.Contains(c.Directory) != true
                && (CheckpointFiles.IsCommitted(c.Directory) ? owned?.Contains(c.Directory) != false : written?.Contains(c.Directory) == true))
            .Select(c => c.Directory)];
    }

    /// <summary>Queues for deletion what <see cref="Plan"/> removes from <paramref name="root"/>; returns at once.</summary>
    /// <param name="root">The checkpoint root.</param>
    /// <param name="keep">Directories never to remove; null for none.</param>
    /// <param name="written">Directories this job opened (see <see cref="Plan"/>); null for none.</param>
    /// <param name="owned">The committed checkpoints that count and may be removed (see <see cref="Plan"/>); null for all.</param>
    /// <returns>The directories queued.</returns>
    /// <remarks>Call after a commit, from one process per root.</remarks>
    public IReadOnlyList<string> Apply(string root, IReadOnlySet<string>? keep = null, IReadOnlySet<string>? written = null, IReadOnlySet<string>? owned = null)
    {
        var doomed = Plan(Path.GetFullPath(root), KeepLast, keep, written, owned);
        foreach (var directory in doomed)
        {
            _deleter.Enqueue(directory);
        }
        return doomed;
    }

    /// <summary>Completes when the deletions queued so far are done.</summary>
    public Task WhenDone() => _deleter.WhenIdle();

    /// <summary>Waits for the queued deletions.</summary>
    public void Dispose() => _deleter.Dispose();
}
