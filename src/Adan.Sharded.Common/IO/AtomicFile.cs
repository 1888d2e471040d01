using System.Runtime.InteropServices;
using System.Text;

namespace Adan.Sharded.IO;

/// <summary>
/// Replaces a file so that a reader (or a crash) sees either the old or the complete new content, never a torn one.
/// </summary>
/// <remarks>
/// Writes a temporary file next to the target, fsyncs it, renames it over the target, then fsyncs the directory so
/// the rename itself survives a power loss. Used for checkpoint manifests: a manifest is the commit record, so it
/// must not exist until the shards it names are durable, and must never be half-written.
/// </remarks>
public static partial class AtomicFile
{
    /// <summary>Atomically writes <paramref name="contents"/> to <paramref name="path"/>, replacing any existing file.</summary>
    /// <param name="path">Target file; its directory must exist.</param>
    /// <param name="contents">The complete new content.</param>
    /// <exception cref="IOException">Writing, syncing or renaming failed; the previous file is unchanged.</exception>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> contents) => Write(path, contents, overwrite: true);

    private static void Write(string path, ReadOnlySpan<byte> contents, bool overwrite)
    {
        var fullPath = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"Invalid path: '{path}' (has no parent directory)", nameof(path));
        // Same directory as the target: rename is only atomic within one file system.
        var temp = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }
            if (overwrite)
            {
                File.Move(temp, fullPath, overwrite: true);
            }
            else
            {
                MoveNoReplace(temp, fullPath);
            }
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        SyncDirectory(directory);
    }

    /// <summary>
    /// Atomically creates <paramref name="path"/> with <paramref name="contents"/> as UTF-8 (without BOM); fails when
    /// the file exists, even when another process creates it at the same moment.
    /// </summary>
    /// <param name="path">Target file; its directory must exist.</param>
    /// <param name="contents">The complete content.</param>
    /// <exception cref="IOException">The file exists, or writing, syncing or linking failed; nothing is left behind.</exception>
    /// <remarks>
    /// The complete temporary file is moved into place by one system call that fails when the target exists:
    /// <c>renameat2(RENAME_NOREPLACE)</c> on Linux, else <c>link</c> (then the temporary name is removed), so exactly
    /// one of any number of concurrent creators, in any process on any host sharing the file system, wins. Never a
    /// check followed by a rename (which .NET's <c>File.Move</c> falls back to where links are not supported): on a
    /// file system that offers neither call, creation fails instead.
    /// On Linux the temporary file is created exclusively and moved relative to a handle of a directory that is not a
    /// link (<see cref="NoFollowFiles.CreateNew"/>), so a link planted in a checkpoint directory is never followed.
    /// </remarks>
    public static void CreateNewText(string path, string contents)
    {
        var bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(contents);
        if (OperatingSystem.IsLinux())
        {
            NoFollowFiles.CreateNew(path, bytes);
            return;
        }
        Write(path, bytes, overwrite: false);
    }

    /// <summary>Atomically writes <paramref name="contents"/> as UTF-8 (without BOM) to <paramref name="path"/>.</summary>
    /// <param name="path">Target file; its directory must exist.</param>
    /// <param name="contents">The complete new content.</param>
    public static void WriteAllText(string path, string contents) =>
        WriteAllBytes(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(contents));

    /// <summary>Flushes a directory's entries (new, renamed or deleted files) to disk.</summary>
    /// <param name="directory">An existing directory.</param>
    /// <remarks>A no-op on Windows, where NTFS journals metadata and directories cannot be opened for flushing.</remarks>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var fd = Open(directory, ORdOnly | (OperatingSystem.IsMacOS() ? 0 : ODirectoryLinux));
        if (fd < 0)
        {
            throw new IOException($"Cannot open directory '{directory}' to sync it (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            if (FSync(fd) != 0)
            {
                throw new IOException($"fsync of directory '{directory}' failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Moves <paramref name="source"/> to <paramref name="target"/> in one call that fails when the target exists.</summary>
    /// <exception cref="IOException">The target exists, or the file system cannot move without the risk of replacing it.</exception>
    private static void MoveNoReplace(string source, string target)
    {
        if (OperatingSystem.IsWindows())
        {
            // MoveFileEx without MOVEFILE_REPLACE_EXISTING: one call, fails when the target exists.
            File.Move(source, target, overwrite: false);
            return;
        }
        // Linux goes through NoFollowFiles.CreateNew (renameat2); elsewhere link is the atomic way.
        if (Link(source, target) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno == EExist
                ? new IOException($"'{target}' already exists; it is never replaced.")
                : new IOException($"cannot create '{target}' without the risk of replacing it: the file system does not support " +
                    $"hard links (errno {errno}). Put checkpoints on a file system that does (APFS, ext4, XFS, NFS).");
        }
        TryDelete(source);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // The original error matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private const int ORdOnly = 0;
    private const int ODirectoryLinux = 0x10000;

    private const int EExist = 17;

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
