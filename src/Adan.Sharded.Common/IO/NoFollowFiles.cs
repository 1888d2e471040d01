using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Adan.Sharded.IO;

/// <summary>
/// File operations inside a checkpoint root that never follow a symbolic link planted there: every file and step
/// directory is opened, created or deleted relative to a handle of the directory holding it, by one system call that
/// refuses a link (<c>openat</c> with <c>O_NOFOLLOW</c>, <c>O_EXCL</c> for creation, <c>unlinkat</c>), never by a check
/// of the path followed by a second call that could meet another file.
/// </summary>
/// <remarks>
/// <para>
/// Why: a checkpoint root is often a shared directory. Anyone who can write there could otherwise plant
/// <c>step-N</c>, a shard file, <c>.adan-lock</c> or <c>manifest.json</c> as a link to a file of the job's owner, and the
/// job would truncate, overwrite or delete that file with its owner's rights; a FIFO or <c>/dev/zero</c> named
/// <c>manifest.json</c> would block or exhaust a reader.
/// </para>
/// <para>
/// A file and the (step) directory holding it are guarded; the root above them is the one a person named (the
/// coordinator's confined roots, a config's <c>checkpoint_dir</c>), whose own links are theirs to make. Every name
/// opened relative to a handle is one component, so <c>O_NOFOLLOW</c> covers it completely (what <c>openat2</c>'s
/// <c>RESOLVE_NO_SYMLINKS</c> adds is only for paths of several components). A file to be replaced is truncated only
/// after <c>fstat</c> on the open handle shows a regular file with one name, so neither a symbolic link nor a hard
/// link to someone's file is written through; nothing is ever unlinked to make room.
/// Linux only (the flags are Linux's); elsewhere the plain .NET calls are used, which follow links, and
/// <see cref="CreateNew"/> and <see cref="OpenOwnedFile"/> are not available.
/// </para>
/// </remarks>
public static partial class NoFollowFiles
{
    /// <summary>The largest manifest read: far beyond any real one, small enough that a hostile file costs nothing.</summary>
    public const int MaxManifestBytes = 16 << 20;

    /// <summary>
    /// Whether a link anywhere in a path (not only its last component) is refused. Set once at start by a process whose
    /// every checkpoint path is already link-resolved: the coordinator, whose roots are resolved when a job begins there,
    /// so that a directory above a step (another job's root, say) swapped for a link afterwards cannot redirect its
    /// commits or retention's deletions into someone else's root. Off elsewhere: a config's <c>checkpoint_dir</c> may
    /// lie under links its owner made.
    /// </summary>
    public static bool LinksAboveRefused { get; set; }

    /// <summary>
    /// Opens the directory <paramref name="path"/>, refusing it when its last component is a symbolic link (or not a
    /// directory).
    /// </summary>
    /// <exception cref="IOException">It is missing, a link, not a directory or cannot be opened; the message names it.</exception>
    public static SafeFileHandle OpenDirectory(string path)
    {
        var (parent, name) = Split(path);
        using var above = OpenPath(parent);
        return OpenDirectoryAt(above, name, path);
    }

    /// <summary>
    /// Creates the directory <paramref name="path"/> (its parent must exist) and opens it; an existing directory is
    /// opened unless <paramref name="exclusive"/>, a link or another kind of file in its place is refused.
    /// </summary>
    /// <exception cref="IOException">It exists (when exclusive), is a link, or cannot be created; the message names it.</exception>
    public static SafeFileHandle CreateDirectory(string path, bool exclusive = false)
    {
        var (parent, name) = Split(path);
        if (!OperatingSystem.IsLinux())
        {
            if (exclusive && Directory.Exists(path))
            {
                throw new IOException($"'{path}' already exists.");
            }
            Directory.CreateDirectory(path);
            return new SafeFileHandle();
        }
        using var above = OpenPath(parent);
        if (MkdirAt(Fd(above), name, Convert.ToInt32("777", 8)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != EExist || exclusive)
            {
                throw Failure("create the directory", path, errno);
            }
        }
        return OpenDirectoryAt(above, name, path);
    }

    /// <summary>
    /// Creates (or truncates) the file <paramref name="path"/> for writing, in a directory that is not a link: the file
    /// is opened with <c>O_NOFOLLOW</c>, so a planted link is refused, and only then truncated, once it is known to be a
    /// regular file with one name (not a hard link to someone's file) or a character device (<c>/dev/null</c>).
    /// </summary>
    /// <param name="path">The file; its directory must exist.</param>
    /// <param name="extraFlags">More <c>open</c> flags (e.g. <c>O_DIRECT</c>); when the file system refuses them with
    /// EINVAL the file is opened without them.</param>
    /// <param name="extraTaken">Whether <paramref name="extraFlags"/> were taken.</param>
    /// <exception cref="IOException">The directory or the file is a link, the file is of another kind or has several
    /// names, or it cannot be created; the message names it.</exception>
    public static SafeFileHandle CreateFile(string path, int extraFlags, out bool extraTaken) =>
        Create(path, extraFlags, exclusive: false, out extraTaken);

    /// <summary>
    /// Creates the new file <paramref name="path"/> exclusively (<c>O_EXCL|O_NOFOLLOW</c>): fails when any file or
    /// link has that name. The directory is taken as named, links and all (an output directory a person chose).
    /// </summary>
    /// <param name="path">The file; its directory must exist.</param>
    /// <param name="extraFlags">More <c>open</c> flags, dropped on EINVAL as for <see cref="CreateFile"/>.</param>
    /// <param name="extraTaken">Whether <paramref name="extraFlags"/> were taken.</param>
    /// <exception cref="IOException">The name exists, or the file cannot be created; the message names it.</exception>
    public static SafeFileHandle CreateNewFile(string path, int extraFlags, out bool extraTaken) =>
        Create(path, extraFlags, exclusive: true, out extraTaken);

    private static SafeFileHandle Create(string path, int extraFlags, bool exclusive, out bool extraTaken)
    {
        var (parent, name) = Split(path);
        extraTaken = false;
        if (!OperatingSystem.IsLinux())
        {
            return File.OpenHandle(path, exclusive ? FileMode.CreateNew : FileMode.Create, FileAccess.Write);
        }
        SafeFileHandle directory;
        try
        {
            directory = exclusive ? OpenPath(parent) : OpenDirectory(parent);
        }
        catch (IOException e)
        {
            throw new IOException($"cannot create '{path}': {e.Message}", e);
        }
        using (directory)
        {
            // Non-blocking so that a FIFO in the file's place cannot hold the open; cleared once the file is checked.
            var flags = OWrOnly | OCreat | ONoFollow | ONonBlock | OCloExec | (exclusive ? OExcl : 0);
            var mode = Convert.ToInt32("666", 8);
            var fd = -1;
            if (extraFlags != 0)
            {
                fd = OpenAt(Fd(directory), name, flags | extraFlags, mode);
                if (fd < 0 && Marshal.GetLastPInvokeError() != EInval)
                {
                    throw Failure("create", path);
                }
                extraTaken = fd >= 0;
            }
            if (fd < 0)
            {
                // Not O_EXCL again: the refused attempt may have created the file already.
                fd = OpenAt(Fd(directory), name, flags & ~OExcl, mode);
            }
            if (fd < 0)
            {
                throw Failure("create", path);
            }
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            try
            {
                var status = Stat(handle, path);
                var problem = status.IsRegular ? (status.Links != 1 ? $"has {status.Links} hard links" : null)
                    : status.IsCharacterDevice ? null
                    : $"is not a regular file (mode {Convert.ToString(status.Mode, 8)})";
                if (problem is not null)
                {
                    throw new IOException($"'{path}' {problem}; refusing to write through it.");
                }
                if (status.IsRegular && status.Size > 0 && FTruncate(fd, 0) != 0)
                {
                    throw Failure("truncate", path);
                }
                var current = Fcntl(fd, FGetFl, 0);
                if (current < 0 || Fcntl(fd, FSetFl, current & ~ONonBlock) != 0)
                {
                    throw Failure("set flags of", path);
                }
                return handle;
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// Creates <paramref name="path"/> with <paramref name="contents"/>, durable and complete or not at all, failing
    /// when the name exists: a temporary file created exclusively in the same directory (not a link) is written and
    /// fsynced, then moved into place by <c>renameat2(RENAME_NOREPLACE)</c> (or <c>linkat</c>), and the directory fsynced.
    /// </summary>
    /// <exception cref="IOException">The name exists, the directory is a link, or writing failed; nothing is left behind.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    public static void CreateNew(string path, ReadOnlySpan<byte> contents)
    {
        RequireLinux();
        var (parent, name) = Split(path);
        using var directory = OpenDirectory(parent);
        var temp = $".{name}.{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16))}.tmp";
        var fd = OpenAt(Fd(directory), temp, OWrOnly | OCreat | OExcl | ONoFollow | OCloExec, Convert.ToInt32("644", 8));
        if (fd < 0)
        {
            throw Failure("create", Path.Combine(parent, temp));
        }
        try
        {
            using (var handle = new SafeFileHandle(fd, ownsHandle: true))
            {
                RandomAccess.Write(handle, contents, 0);
                RandomAccess.FlushToDisk(handle);
            }
            MoveNoReplace(directory, temp, name, path);
        }
        catch
        {
            _ = UnlinkAt(Fd(directory), temp, 0);
            throw;
        }
        if (FSync(Fd(directory)) != 0)
        {
            throw Failure("fsync the directory of", path);
        }
    }

    /// <summary>
    /// Reads a small regular file without following a link, without blocking on a FIFO or device, and without reading
    /// more than <paramref name="maxBytes"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="IOException">It is a link, not a regular file, larger than the cap, or unreadable; the message names it.</exception>
    public static byte[] ReadSmallFile(string path, int maxBytes)
    {
        if (!OperatingSystem.IsLinux())
        {
            return File.ReadAllBytes(path);
        }
        var (parent, name) = Split(path);
        using var directory = OpenPath(parent);
        var fd = OpenAt(Fd(directory), name, ORdOnly | ONonBlock | ONoFollow | OCloExec, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno == ENoEnt ? new FileNotFoundException($"'{path}' does not exist.", path) : Failure("open", path, errno);
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var status = Stat(handle, path);
        if (!status.IsRegular)
        {
            throw new IOException($"'{path}' is not a regular file (mode {Convert.ToString(status.Mode, 8)}); refusing to read it.");
        }
        if (status.Size > maxBytes)
        {
            throw new IOException($"'{path}' has {status.Size} bytes, more than the {maxBytes} allowed; refusing to read it.");
        }
        var buffer = new byte[(int)status.Size];
        var read = 0;
        for (int n; read < buffer.Length && (n = RandomAccess.Read(handle, buffer.AsSpan(read), read)) > 0;)
        {
            read += n;
        }
        return read == buffer.Length ? buffer : buffer[..read];
    }

    /// <summary>
    /// Opens (creating when missing) a lock file in an existing directory for reading and writing, refusing a link, a
    /// file that is not regular, one owned by another user or one with more than one name (a hard link to someone's file).
    /// </summary>
    /// <exception cref="IOException">Refused or not openable; the message names the file and why.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    public static SafeFileHandle OpenOwnedFile(string path)
    {
        RequireLinux();
        var (parent, name) = Split(path);
        using var directory = OpenPath(parent);
        var fd = OpenAt(Fd(directory), name, ORdWr | OCreat | ONonBlock | ONoFollow | OCloExec, Convert.ToInt32("644", 8));
        if (fd < 0)
        {
            throw Failure("open", path);
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var status = Stat(handle, path);
            var problem = !status.IsRegular ? $"is not a regular file (mode {Convert.ToString(status.Mode, 8)})"
                : status.Uid != GetEuid() ? $"is owned by uid {status.Uid}, not by this user (uid {GetEuid()})"
                : status.Links != 1 ? $"has {status.Links} hard links"
                : null;
            return problem is null ? handle : throw new IOException($"'{path}' {problem}; refusing to use it. Remove it if no job of yours is running.");
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Deletes the directory <paramref name="path"/> and the files in it without following a link: a link in its place
    /// is refused, links inside it are removed as links. <paramref name="firstFile"/> (e.g. <c>manifest.json</c>), when
    /// given, goes first and its removal is made durable before anything else. A missing directory is not an error.
    /// </summary>
    /// <exception cref="IOException">It is a link or holds a subdirectory, or a removal failed; the message names it.</exception>
    public static void DeleteDirectory(string path, string? firstFile = null)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            return;
        }
        var (parent, name) = Split(path);
        SafeFileHandle above;
        try
        {
            above = OpenPath(parent);
        }
        catch (DirectoryNotFoundException)
        {
            return;
        }
        using (above)
        {
            var fd = OpenAt(Fd(above), name, ORdOnly | ODirectory | ONoFollow | OCloExec, 0);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == ENoEnt)
                {
                    return;
                }
                throw errno is ELoop or ENotDir ? new IOException($"'{path}' is not a directory (a symbolic link?); refusing to delete through it.") : Failure("open", path, errno);
            }
            using var directory = new SafeFileHandle(fd, ownsHandle: true);
            if (firstFile is not null && UnlinkAt(fd, firstFile, 0) == 0 && FSync(fd) != 0)
            {
                throw Failure("fsync", path);
            }
            // The names come from the handle, not the path, so a directory swapped in meanwhile is never listed.
            foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/self/fd/{fd}"))
            {
                var entryName = Path.GetFileName(entry);
                if (UnlinkAt(fd, entryName, 0) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != ENoEnt)
                {
                    throw Failure("delete", Path.Combine(path, entryName), errno);
                }
            }
            if (UnlinkAt(Fd(above), name, AtRemoveDir) != 0 && Marshal.GetLastPInvokeError() is var last && last != ENoEnt)
            {
                throw Failure("delete", path, last);
            }
        }
    }

    private static SafeFileHandle OpenDirectoryAt(SafeFileHandle above, string name, string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new SafeFileHandle();
        }
        var fd = OpenAt(Fd(above), name, ORdOnly | ODirectory | ONoFollow | OCloExec, 0);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        var errno = Marshal.GetLastPInvokeError();
        throw errno switch
        {
            ENoEnt => new DirectoryNotFoundException($"'{path}' does not exist."),
            ELoop or ENotDir => new IOException($"'{path}' is a symbolic link or not a directory; refusing to use it (a checkpoint directory is never a link)."),
            _ => Failure("open", path, errno),
        };
    }

    /// <summary>Opens a directory the usual way (links followed): the root a person named.</summary>
    private static SafeFileHandle OpenPath(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new SafeFileHandle();
        }
        if (LinksAboveRefused)
        {
            return OpenPathWithoutLinks(directory);
        }
        var fd = OpenAt(AtFdCwd, directory, ORdOnly | ODirectory | OCloExec, 0);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        var errno = Marshal.GetLastPInvokeError();
        throw errno == ENoEnt ? new DirectoryNotFoundException($"'{directory}' does not exist.") : Failure("open", directory, errno);
    }

    /// <summary>
    /// Opens <paramref name="directory"/> one component at a time from <c>/</c>, each with <c>O_NOFOLLOW</c> (those above
    /// the last as <c>O_PATH</c>, which needs only search permission), so that a link anywhere in the path is refused
    /// rather than followed, whenever it was put there.
    /// </summary>
    private static SafeFileHandle OpenPathWithoutLinks(string directory)
    {
        var full = Path.GetFullPath(directory);
        var names = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = OpenAt(AtFdCwd, "/", (names.Length == 0 ? ORdOnly : OPath) | ODirectory | OCloExec, 0);
        if (current < 0)
        {
            throw Failure("open", "/");
        }
        var walked = "";
        foreach (var (name, i) in names.Select((n, i) => (n, i)))
        {
            walked += "/" + name;
            var next = OpenAt(current, name, (i == names.Length - 1 ? ORdOnly : OPath) | ODirectory | ONoFollow | OCloExec, 0);
            var errno = next < 0 ? Marshal.GetLastPInvokeError() : 0;
            _ = Close(current);
            if (next < 0)
            {
                throw errno switch
                {
                    ENoEnt => new DirectoryNotFoundException($"'{directory}' does not exist."),
                    ELoop or ENotDir => new IOException(
                        $"cannot open '{directory}': '{walked}' is a symbolic link (or not a directory); this process refuses links anywhere in a checkpoint path."),
                    _ => Failure("open", directory, errno),
                };
            }
            current = next;
        }
        return new SafeFileHandle(current, ownsHandle: true);
    }

    private static void MoveNoReplace(SafeFileHandle directory, string temp, string name, string path)
    {
        int errno;
        try
        {
            if (RenameAt2(Fd(directory), temp, Fd(directory), name, RenameNoReplace) == 0)
            {
                return;
            }
            errno = Marshal.GetLastPInvokeError();
        }
        catch (EntryPointNotFoundException)
        {
            errno = ENoSys;
        }
        if (errno == EExist)
        {
            throw new IOException($"'{path}' already exists; it is never replaced.");
        }
        if (errno is not (EInval or ENoSys or EOpNotSupp))
        {
            throw Failure("move a temporary file to", path, errno);
        }
        if (LinkAt(Fd(directory), temp, Fd(directory), name, 0) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            throw errno == EExist
                ? new IOException($"'{path}' already exists; it is never replaced.")
                : new IOException($"cannot create '{path}' without the risk of replacing it: the file system supports neither " +
                    $"renameat2(RENAME_NOREPLACE) nor hard links (errno {errno}). Put checkpoints on a file system that does (ext4, XFS, NFS, Lustre, tmpfs).");
        }
        _ = UnlinkAt(Fd(directory), temp, 0);
    }

    private static (string Parent, string Name) Split(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var parent = Path.GetDirectoryName(full);
        var name = Path.GetFileName(full);
        return parent is null || name.Length == 0 || name is "." or ".."
            ? throw new ArgumentException($"'{path}' names no file inside a directory.", nameof(path))
            : (parent, name);
    }

    private static void RequireLinux()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("link-safe file creation needs Linux's openat flags.");
        }
    }

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    private readonly record struct Status(uint Mode, uint Uid, uint Links, long Size)
    {
        public bool IsRegular => (Mode & SIfMt) == SIfReg;

        public bool IsCharacterDevice => (Mode & SIfMt) == SIfChr;
    }

    /// <summary>fstat through <c>statx</c>, whose layout is the same on every architecture.</summary>
    private static unsafe Status Stat(SafeFileHandle handle, string path)
    {
        var buffer = stackalloc byte[256];
        if (StatX(Fd(handle), "", AtEmptyPath, StatXBasicStats, buffer) != 0)
        {
            throw Failure("stat", path);
        }
        var span = new ReadOnlySpan<byte>(buffer, 256);
        return new Status(
            Mode: BinaryPrimitives.ReadUInt16LittleEndian(span[28..]),
            Uid: BinaryPrimitives.ReadUInt32LittleEndian(span[20..]),
            Links: BinaryPrimitives.ReadUInt32LittleEndian(span[16..]),
            Size: (long)BinaryPrimitives.ReadUInt64LittleEndian(span[40..]));
    }

    private static IOException Failure(string what, string path, int? errno = null)
    {
        var code = errno ?? Marshal.GetLastPInvokeError();
        return code == ELoop
            ? new IOException($"cannot {what} '{path}': it is a symbolic link; refusing to follow it.")
            : new IOException($"cannot {what} '{path}': {Marshal.GetPInvokeErrorMessage(code)} (errno {code})");
    }

    private const int AtFdCwd = -100;
    private const int AtRemoveDir = 0x200;
    private const int AtEmptyPath = 0x1000;
    private const uint StatXBasicStats = 0x7ff;
    private const uint SIfMt = 0xF000;
    private const uint SIfReg = 0x8000;
    private const uint SIfChr = 0x2000;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int ORdOnly = 0x0;
    private const int OWrOnly = 0x1;
    private const int ORdWr = 0x2;
    private const int OCreat = 0x40;
    private const int OExcl = 0x80;
    private const int ONonBlock = 0x800;
    private static int ODirectory => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;
    private static int ONoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;
    private const int OCloExec = 0x80000;
    private const int OPath = 0x200000;
    private const uint RenameNoReplace = 1;
    private const int ENoEnt = 2;
    private const int EExist = 17;
    private const int ENotDir = 20;
    private const int EInval = 22;
    private const int ENoSys = 38;
    private const int ELoop = 40;
    private const int EOpNotSupp = 95;

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int directory, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkdirAt(int directory, string path, int mode);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnlinkAt(int directory, string path, int flags);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirectory, string oldPath, int newDirectory, string newPath, uint flags);

    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LinkAt(int oldDirectory, string oldPath, int newDirectory, string newPath, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int StatX(int directory, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();
}
