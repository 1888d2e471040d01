using System.Runtime.InteropServices;

namespace Adan.Sharded.IO;

/// <summary>
/// A file opened for positioned reads, or created for positioned writes, that bypass the page cache (Linux
/// <c>O_DIRECT</c>) where the file system allows it, and go through the page cache elsewhere (tmpfs, some FUSE mounts,
/// other systems).
/// </summary>
/// <remarks>
/// <para>
/// Why: a buffered write copies every byte into page-cache pages that the kernel must first allocate, which on the
/// virtual machines this runs on costs as much CPU as the copy itself; a checkpoint of hundreds of MB then competes
/// for the cores with its own SHA-256. Direct writes move the bytes from the caller's memory to the device without
/// that copy, so the process's CPU is free for hashing while the device works.
/// </para>
/// <para>
/// Direct I/O needs the memory address, length and file offset of every read and write aligned to
/// <see cref="Alignment"/> (a read may return less at the end of the file); a writer pads the last write and calls
/// <see cref="SetLength"/> to cut the padding off. When the file system refuses <c>O_DIRECT</c> (at open, or with
/// <c>EINVAL</c> on an access), the file silently continues as a buffered one; <see cref="IsDirect"/> says which.
/// Reads see what buffered writers wrote: the kernel writes dirty cached pages back before a direct read.
/// </para>
/// </remarks>
internal sealed partial class DirectFile : IDisposable
{
    /// <summary>Alignment of addresses, lengths and offsets for direct writes (covers 512-byte and 4 KiB sectors).</summary>
    public const int Alignment = 4096;

    private const int ORdOnly = 0x0;
    private const int OCloExec = 0x80000;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int EIntr = 4;
    private const int EInval = 22;

    private int _fd = -1;
    private readonly FileStream? _managed;
    private readonly int _directFlag;

    private DirectFile(string path, int fd, int directFlag, FileStream? managed)
    {
        Path = path;
        _fd = fd;
        _directFlag = directFlag;
        _managed = managed;
        IsDirect = directFlag != 0;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Whether writes bypass the page cache (they need <see cref="Alignment"/> then).</summary>
    public bool IsDirect { get; private set; }

    /// <summary>
    /// Creates <paramref name="path"/> for writing, with direct I/O where the platform and file system allow it. An
    /// existing name is removed and the file created exclusively, in a directory that is not a link
    /// (<see cref="NoFollowFiles.CreateFile"/>): a link planted in a checkpoint directory is never written through.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="exclusive">Fail when the name exists instead (<see cref="NoFollowFiles.CreateNewFile"/>), in a
    /// directory taken as named: for a temporary file in an output directory a person chose.</param>
    /// <exception cref="IOException">The file cannot be created, or its directory is a link; the message names it and the reason.</exception>
    public static DirectFile Create(string path, bool exclusive = false)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new DirectFile(path, -1, 0, new FileStream(path, exclusive ? FileMode.CreateNew : FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0));
        }
        var directFlag = DirectFlagForArchitecture();
        var handle = exclusive
            ? NoFollowFiles.CreateNewFile(path, directFlag, out var direct)
            : NoFollowFiles.CreateFile(path, directFlag, out direct);
        // The handle's descriptor now belongs to this file, which closes it in Dispose.
        var fd = (int)handle.DangerousGetHandle();
        handle.SetHandleAsInvalid();
        return new DirectFile(path, fd, direct ? directFlag : 0, null);
    }

    /// <summary>Opens an existing file for reading, with direct I/O (when <paramref name="direct"/>) where the platform and file system allow it.</summary>
    /// <param name="path">The file.</param>
    /// <param name="direct">False to read through the page cache, e.g. a file that other processes on the node read too.</param>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="IOException">The file cannot be opened; the message names it and the system's reason.</exception>
    public static DirectFile OpenRead(string path, bool direct = true)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new DirectFile(path, -1, 0, new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0));
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"'{path}' does not exist.", path);
        }
        return OpenNative(path, ORdOnly | OCloExec, "open", direct);
    }

    /// <summary>
    /// Reads up to <paramref name="buffer"/>'s length at <paramref name="offset"/> (aligned when <see cref="IsDirect"/>);
    /// returns the bytes read, less than asked only at the end of the file.
    /// </summary>
    /// <exception cref="IOException">The read failed; the message names the file.</exception>
    public unsafe int Read(Span<byte> buffer, long offset)
    {
        if (_managed is not null)
        {
            _managed.Position = offset;
            return _managed.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        var total = 0;
        fixed (byte* start = buffer)
        {
            while (total < buffer.Length)
            {
                var n = PRead(_fd, start + total, buffer.Length - total, offset + total);
                if (n < 0)
                {
                    ThrowUnlessRetryable("read");
                    continue;
                }
                if (n == 0)
                {
                    break;
                }
                total += (int)n;
            }
        }
        return total;
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> (aligned when <see cref="IsDirect"/>).</summary>
    /// <exception cref="IOException">The write failed (disk full, I/O error); the message names the file.</exception>
    public unsafe void Write(ReadOnlySpan<byte> data, long offset)
    {
        if (_managed is not null)
        {
            _managed.Position = offset;
            _managed.Write(data);
            return;
        }
        fixed (byte* start = data)
        {
            var p = start;
            var left = (nint)data.Length;
            while (left > 0)
            {
                var n = PWrite(_fd, p, left, offset);
                if (n < 0)
                {
                    ThrowUnlessRetryable("write");
                    continue;
                }
                if (n == 0)
                {
                    throw new IOException($"cannot write '{Path}': the system wrote nothing at byte {offset}.");
                }
                p += n;
                left -= n;
                offset += n;
            }
        }
    }

    /// <summary>Sets the file's length (cuts off the padding of the last aligned write).</summary>
    public void SetLength(long length)
    {
        if (_managed is not null)
        {
            _managed.SetLength(length);
        }
        else if (FTruncate(_fd, length) != 0)
        {
            throw Failure("truncate", Path);
        }
    }

    /// <summary>Makes the file's data and size durable (fsync).</summary>
    public void Flush()
    {
        if (_managed is not null)
        {
            _managed.Flush(flushToDisk: true);
        }
        else if (FSync(_fd) != 0)
        {
            throw Failure("fsync", Path);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_managed is not null)
        {
            _managed.Dispose();
        }
        else
        {
            var fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0)
            {
                _ = Close(fd);
            }
        }
    }

    private static DirectFile OpenNative(string path, int flags, string what, bool direct)
    {
        // As .NET creates files: rw for everyone, less the umask.
        var mode = Convert.ToInt32("666", 8);
        var directFlag = direct ? DirectFlagForArchitecture() : 0;
        if (directFlag != 0)
        {
            var fd = Open(path, flags | directFlag, mode);
            if (fd >= 0)
            {
                return new DirectFile(path, fd, directFlag, null);
            }
            if (Marshal.GetLastPInvokeError() != EInval)
            {
                throw Failure(what, path);
            }
        }
        var buffered = Open(path, flags, mode);
        return buffered >= 0 ? new DirectFile(path, buffered, 0, null) : throw Failure(what, path);
    }

    /// <summary>After a failed read or write: returns when it may be retried (interrupted, or direct I/O refused and now turned off), throws otherwise.</summary>
    private void ThrowUnlessRetryable(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        if (errno == EIntr)
        {
            return;
        }
        if (errno == EInval && IsDirect)
        {
            // The file system took O_DIRECT at open but not this access: continue through the page cache.
            DropDirect();
            return;
        }
        throw Failure(what, Path, errno);
    }

    private void DropDirect()
    {
        var flags = Fcntl(_fd, FGetFl, 0);
        if (flags < 0 || Fcntl(_fd, FSetFl, flags & ~_directFlag) < 0)
        {
            throw Failure("turn off direct I/O on", Path);
        }
        IsDirect = false;
    }

    /// <summary>O_DIRECT differs between architectures; 0 where it is not known (then the file is buffered).</summary>
    private static int DirectFlagForArchitecture() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    private static IOException Failure(string what, string path, int? errno = null)
    {
        var code = errno ?? Marshal.GetLastPInvokeError();
        return new IOException($"cannot {what} '{path}': {Marshal.GetPInvokeErrorMessage(code)} (errno {code})");
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static unsafe partial nint PRead(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static unsafe partial nint PWrite(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
