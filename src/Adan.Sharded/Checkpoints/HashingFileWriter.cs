using System.Collections.Concurrent;
using System.Security.Cryptography;
using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Writes a new file sequentially and computes its SHA-256 on the way: the bytes are copied into a ring of aligned
/// slots, hashed there while still in cache, and a second thread writes each full slot with direct I/O
/// (<see cref="DirectFile"/>) while the caller fills and hashes the next. The checksum is of exactly the bytes
/// written, costs no second read, and its CPU time overlaps the device's work instead of competing with page-cache
/// copies.
/// </summary>
/// <remarks>
/// The caller's memory is copied before <see cref="Write(IntPtr, long)"/> returns, so it may change afterwards. The
/// last slot is padded to the direct-I/O alignment and the file cut back to its real length in <see cref="Complete"/>.
/// </remarks>
internal sealed unsafe class HashingFileWriter : IDisposable
{
    private const int SlotBytes = StagingRings.SlotBytes;
    private const int SlotCount = StagingRings.SlotCount;

    private readonly DirectFile _file;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte* _ring;
    private readonly BlockingCollection<(int Slot, int Length, long Offset)> _toWrite = new();
    private readonly SemaphoreSlim _freeSlots = new(SlotCount, SlotCount);
    private readonly Task _writing;
    private volatile Exception? _writeError;
    private int _slot;
    private int _fill;
    private bool _completed;
    private bool _disposed;

    /// <summary>Creates (or truncates) the file.</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="crashAfterBytes">Fault injection for tests: make the written part durable and kill the process once
    /// this many bytes are written (-1: never).</param>
    /// <param name="exclusive">Fail when the name exists (a temporary file in a directory others may write) instead of
    /// replacing it.</param>
    public HashingFileWriter(string path, long crashAfterBytes = -1, bool exclusive = false)
    {
        _file = DirectFile.Create(path, exclusive);
        _ring = StagingRings.Rent();
        CrashAfterBytes = crashAfterBytes;
        _freeSlots.Wait();
        _writing = Task.Factory.StartNew(WriteQueued, TaskCreationOptions.LongRunning);
    }

    /// <summary>
    /// Writes a whole file image that already lies in aligned memory (a background save's staging memory) straight
    /// from there with direct I/O, hashing each slot-sized chunk while the previous one is written: no copy into a
    /// ring, which the synchronous path needs only because tensor memory is neither aligned nor its own.
    /// </summary>
    /// <param name="path">The file to create.</param>
    /// <param name="image">The file's bytes, aligned to <see cref="DirectFile.Alignment"/>; the memory must extend to
    /// <paramref name="length"/> rounded up to the alignment, and those padding bytes are overwritten with zeros.</param>
    /// <param name="length">The file's length.</param>
    /// <param name="crashAfterBytes">Fault injection for tests, as for the constructor (-1: never).</param>
    /// <returns>The file's size and SHA-256 (lowercase hex), after the fsync.</returns>
    public static (long Bytes, string Sha256) WriteImage(string path, IntPtr image, long length, long crashAfterBytes = -1)
    {
        if (image % DirectFile.Alignment != 0)
        {
            throw new ArgumentException($"the image must be aligned to {DirectFile.Alignment} bytes for direct I/O.", nameof(image));
        }
        var padded = (length + DirectFile.Alignment - 1) / DirectFile.Alignment * DirectFile.Alignment;
        new Span<byte>((byte*)image + length, (int)(padded - length)).Clear();
        using var file = DirectFile.Create(path);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var writing = Task.CompletedTask;
        for (long offset = 0; offset < length; offset += SlotBytes)
        {
            var chunk = (int)Math.Min(SlotBytes, length - offset);
            var start = (byte*)image + offset;
            hash.AppendData(new ReadOnlySpan<byte>(start, chunk));
            writing.GetAwaiter().GetResult();
            var at = offset;
            var size = (int)Math.Min(SlotBytes, padded - offset);
            writing = Task.Run(() => file.Write(new ReadOnlySpan<byte>((byte*)image + at, size), at));
            if (crashAfterBytes >= 0 && offset + chunk >= crashAfterBytes)
            {
                writing.GetAwaiter().GetResult();
                file.Flush();
                Environment.FailFast($"fault injection: killed after writing {offset + chunk} bytes of {path}");
            }
        }
        try
        {
            writing.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not IOException)
        {
            throw new IOException(e.Message, e);
        }
        file.SetLength(length);
        file.Flush();
        return (length, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>Bytes written so far (accepted from the caller).</summary>
    public long Written { get; private set; }

    /// <summary>Fault injection for tests (-1: never).</summary>
    public long CrashAfterBytes { get; }

    /// <summary>Writes a managed buffer (e.g. a header).</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            Write((IntPtr)p, bytes.Length);
        }
    }

    /// <summary>Writes <paramref name="length"/> bytes from native memory (a tensor's data).</summary>
    public void Write(IntPtr data, long length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            throw new InvalidOperationException($"{_file.Path} is already complete; nothing more can be written.");
        }
        var source = (byte*)data;
        while (length > 0)
        {
            var n = (int)Math.Min(length, SlotBytes - _fill);
            Buffer.MemoryCopy(source, SlotStart(_slot) + _fill, n, n);
            _fill += n;
            source += n;
            length -= n;
            Written += n;
            if (_fill == SlotBytes)
            {
                Submit();
            }
            if (CrashAfterBytes >= 0 && Written >= CrashAfterBytes)
            {
                Finish();
                Environment.FailFast($"fault injection: killed after writing {Written} bytes of {_file.Path}");
            }
        }
    }

    /// <summary>Writes what is left, fsyncs the file, and returns its size and SHA-256 (lowercase hex).</summary>
    /// <exception cref="IOException">A write or the fsync failed; the message names the file.</exception>
    public (long Bytes, string Sha256) Complete()
    {
        Finish();
        return (Written, Convert.ToHexStringLower(_hash.GetHashAndReset()));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _toWrite.CompleteAdding();
        try
        {
            _writing.Wait();
        }
        catch (AggregateException)
        {
            // The writer is being abandoned after an error; that error is the one to report.
        }
        _file.Dispose();
        StagingRings.Return(_ring);
        _hash.Dispose();
        _toWrite.Dispose();
        _freeSlots.Dispose();
    }

    private byte* SlotStart(int slot) => StagingRings.Slot(_ring, slot);

    /// <summary>Hashes the filled part of the current slot, queues it (padded to the alignment) and takes the next slot.</summary>
    private void Submit()
    {
        ThrowIfWriteFailed();
        var start = SlotStart(_slot);
        _hash.AppendData(new ReadOnlySpan<byte>(start, _fill));
        var length = (_fill + DirectFile.Alignment - 1) / DirectFile.Alignment * DirectFile.Alignment;
        new Span<byte>(start + _fill, length - _fill).Clear();
        // Written counts this slot's bytes too, so the slot starts at Written - _fill in the file.
        _toWrite.Add((_slot, length, Written - _fill));
        _freeSlots.Wait();
        _slot = (_slot + 1) % SlotCount;
        _fill = 0;
    }

    /// <summary>Queues the partial last slot, waits for the writes, cuts off the padding and fsyncs.</summary>
    private void Finish()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            throw new InvalidOperationException($"{_file.Path} is already complete.");
        }
        _completed = true;
        if (_fill > 0)
        {
            Submit();
        }
        _toWrite.CompleteAdding();
        _writing.GetAwaiter().GetResult();
        ThrowIfWriteFailed();
        _file.SetLength(Written);
        _file.Flush();
    }

    private void ThrowIfWriteFailed()
    {
        if (_writeError is { } e)
        {
            throw new IOException(e.Message, e);
        }
    }

    private void WriteQueued()
    {
        foreach (var (slot, length, offset) in _toWrite.GetConsumingEnumerable())
        {
            if (_writeError is null)
            {
                try
                {
                    _file.Write(new ReadOnlySpan<byte>(SlotStart(slot), length), offset);
                }
                catch (Exception e)
                {
                    // Kept for the caller, who sees it at its next slot; the queue is still drained so it never waits forever.
                    _writeError = e;
                }
            }
            _freeSlots.Release();
        }
    }
}
