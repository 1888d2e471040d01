namespace Adan.Sharded.IO;

/// <summary>
/// Deletes checkpoint directories on a background thread, one at a time and in the order asked, so that retention
/// does not stall training: freeing hundreds of MB of extents (with online discard on ext4) takes as long as
/// writing a large part of the new checkpoint did.
/// </summary>
/// <remarks>
/// Each directory loses its <c>commitFile</c> first and that removal is made durable before anything else goes, so
/// a crash part-way leaves an uncommitted directory, never a committed checkpoint with missing shards. Deleting a
/// directory that no longer exists is not an error; a directory that is a link is refused and reported
/// (<see cref="NoFollowFiles.DeleteDirectory"/>). <see cref="Dispose"/> waits for what is queued.
/// </remarks>
public sealed class BackgroundDeleter : IDisposable
{
    private readonly Lock _gate = new();
    private readonly string _commitFile;
    private readonly Action<string, Exception> _onError;
    private Task _tail = Task.CompletedTask;

    /// <summary>Creates a deleter.</summary>
    /// <param name="commitFile">The file whose presence commits a directory (e.g. <c>manifest.json</c>); deleted first.</param>
    /// <param name="onError">Told about a directory that could not be deleted (it stays until it is queued again).</param>
    public BackgroundDeleter(string commitFile, Action<string, Exception> onError)
    {
        ArgumentException.ThrowIfNullOrEmpty(commitFile);
        ArgumentNullException.ThrowIfNull(onError);
        _commitFile = commitFile;
        _onError = onError;
    }

    /// <summary>Queues <paramref name="directory"/> for deletion and returns at once.</summary>
    public void Enqueue(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        lock (_gate)
        {
            _tail = _tail.ContinueWith(_ => Delete(directory), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }

    /// <summary>Completes when everything queued so far is deleted (or failed and was reported).</summary>
    public Task WhenIdle()
    {
        lock (_gate)
        {
            return _tail;
        }
    }

    /// <summary>Waits for the queued deletions.</summary>
    public void Dispose() => WhenIdle().GetAwaiter().GetResult();

    private void Delete(string directory)
    {
        try
        {
            // Relative to a handle of the directory: a step directory or manifest planted as a link is refused or
            // removed as a link, never followed to someone else's files.
            NoFollowFiles.DeleteDirectory(directory, _commitFile);
        }
        catch (Exception e)
        {
            // Never leaves the queue faulted: a directory that could not go is reported and stays.
            try
            {
                if (Directory.Exists(directory))
                {
                    _onError(directory, e);
                }
            }
            catch (Exception reportFailure)
            {
                Console.Error.WriteLine($"warning: could not delete {directory} ({e.Message}) nor report it ({reportFailure.Message})");
            }
        }
    }
}
