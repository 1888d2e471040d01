using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Keep-last-K for a checkpoint root, whoever commits there (the local catalogue, or the trainer's rank 0 after a
/// coordinator commit) and whichever run wrote the older checkpoints: the file system is the record, so checkpoints of
/// earlier runs in the same root count too. Deletion runs in the background (<see cref="BackgroundDeleter"/>).
/// </summary>
public sealed class CheckpointRetention : IDisposable
{
    private readonly BackgroundDeleter _deleter;

    /// <summary>Creates the policy.</summary>
    /// <param name="root">The checkpoint root (holding <c>step-*</c> directories).</param>
    /// <param name="keepLast">Committed checkpoints to keep (≥ 1).</param>
    public CheckpointRetention(string root, int keepLast)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        Root = Path.GetFullPath(root);
        KeepLast = keepLast;
        _deleter = new BackgroundDeleter(CheckpointManifest.FileName,
            (directory, e) => Console.Error.WriteLine($"warning: retention could not delete {directory}: {e.Message}"));
    }

    /// <summary>The checkpoint root.</summary>
    public string Root { get; }

    /// <summary>Committed checkpoints kept.</summary>
    public int KeepLast { get; }

    /// <summary>
    /// Queues for deletion the committed checkpoints older than the newest <see cref="KeepLast"/>, and uncommitted
    /// directories older than the newest commit (left by a save that crashed, or by a deletion cut short): no save can
    /// still be writing those. Uncommitted directories newer than the newest commit are left alone. Returns at once.
    /// </summary>
    /// <remarks>Call after a commit, from one process of the job.</remarks>
    public void Apply()
    {
        var committed = CheckpointFiles.Committed(Root);
        if (committed.Count == 0)
        {
            return;
        }
        var newest = committed[^1].Step;
        var kept = committed.TakeLast(KeepLast).Select(c => c.Directory).ToHashSet(StringComparer.Ordinal);
        foreach (var (step, directory) in CheckpointFiles.StepDirectories(Root))
        {
            if (step < newest && !kept.Contains(directory))
            {
                _deleter.Enqueue(directory);
            }
        }
    }

    /// <summary>Completes when the deletions queued so far are done.</summary>
    public Task WhenDone() => _deleter.WhenIdle();

    /// <summary>Waits for the queued deletions.</summary>
    public void Dispose() => _deleter.Dispose();
}
