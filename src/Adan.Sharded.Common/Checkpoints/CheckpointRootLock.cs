using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// A job's hold on its checkpoint root for the job's life: an advisory <c>flock</c> on <c>&lt;root&gt;/.adan-lock</c>,
/// whose text names the holder (job id, host, pid, since when). A second job that asks for the same root is refused
/// with one line naming the holder, instead of the two overwriting or deleting each other's checkpoints.
/// </summary>
/// <remarks>
/// The kernel releases the lock when the holding process ends, however it ends, so a crashed job never leaves the root
/// locked; the stale text is overwritten by the next holder. The file is opened without following a link and must be a
/// regular file of this user with one name (<see cref="NoFollowFiles.OpenOwnedFile"/>). Plain <c>open</c>/<c>flock</c> calls rather than .NET file
/// streams: .NET takes its own advisory lock when it opens a file, which would stop a second job from even reading
/// who holds the root. On NFS, Linux maps <c>flock</c> to the server's byte-range locks, so hosts sharing the root see
/// each other's hold. Linux only (the constants are Linux's); elsewhere it holds nothing.
/// </remarks>
public sealed partial class CheckpointRootLock : IDisposable
{
    /// <summary>The lock file's name in the checkpoint root.</summary>
    public const string FileName = ".adan-lock";

    private int _fd;

    private CheckpointRootLock(string path, int fd)
    {
        Path = path;
        _fd = fd;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Takes the root for <paramref name="jobId"/> (creating the root when missing), or refuses naming the holder.</summary>
    /// <param name="root">The checkpoint root.</param>
    /// <param name="jobId">The job taking it, as it should appear in another job's error.</param>
    /// <exception cref="CheckpointException">Another job holds the root, or the lock file cannot be opened.</exception>
    public static CheckpointRootLock Acquire(string root, string jobId)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        var full = System.IO.Path.GetFullPath(root);
        Directory.CreateDirectory(full);
        var path = System.IO.Path.Combine(full, FileName);
        if (!OperatingSystem.IsLinux())
        {
            return new CheckpointRootLock(path, -1);
        }
        int fd;
        try
        {
            // Never through a link, and only a regular file of this user with one name: truncating and writing the
            // lock must not reach a file someone pointed it at.
            var handle = NoFollowFiles.OpenOwnedFile(path);
            fd = (int)handle.DangerousGetHandle();
            handle.SetHandleAsInvalid();
        }
        catch (IOException e)
        {
            throw new CheckpointException($"refusing the lock file: {e.Message}", e);
        }
        if (Flock(fd, LockExclusive | LockNonBlocking) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            var holder = ReadAll(fd).Trim();
            _ = Close(fd);
            throw new CheckpointException(errno == EWouldBlock
                ? $"{full} is in use by {(holder.Length > 0 ? holder : "another job")}; two jobs must not share a checkpoint directory: " +
                  "give this run another checkpoint_dir, or wait for that job to end."
                : $"cannot lock {path} (errno {errno}).");
        }
        var text = string.Create(CultureInfo.InvariantCulture,
            $"job {jobId} on host {Environment.MachineName} (pid {Environment.ProcessId}, since {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ})\n");
        var bytes = Encoding.UTF8.GetBytes(text);
        if (FTruncate(fd, 0) != 0 || PWrite(fd, bytes, bytes.Length, 0) != bytes.Length)
        {
            var errno = Marshal.GetLastPInvokeError();
            _ = Close(fd);
            throw new CheckpointException($"cannot write the lock file {path} (errno {errno}).");
        }
        return new CheckpointRootLock(path, fd);
    }

    /// <summary>Releases the root (closing the file releases the lock; the text stays until the next holder).</summary>
    public void Dispose()
    {
        if (_fd >= 0)
        {
            _ = Close(_fd);
            _fd = -1;
        }
    }

    /// <summary>The holder's text, at most 1 KiB of it.</summary>
    private static string ReadAll(int fd)
    {
        var buffer = new byte[1024];
        var n = PRead(fd, buffer, buffer.Length, 0);
        return n <= 0 ? "" : Encoding.UTF8.GetString(buffer, 0, (int)n).ReplaceLineEndings(" ");
    }

    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int EWouldBlock = 11;

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint PWrite(int fd, byte[] buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static partial nint PRead(int fd, byte[] buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
