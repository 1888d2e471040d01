using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Writes a new file sequentially in large unbuffered writes and computes its SHA-256 on the way, from the same
/// memory, on a second thread that may lag behind the writes: the checksum costs no second read, and its CPU time
/// overlaps both the writes and the final fsync (an I/O wait), which on a 2-core machine is where it fits.
/// </summary>
/// <remarks>
/// The hashing thread reads the caller's memory after <see cref="Write(IntPtr, long)"/> has returned, so that memory
/// must stay unchanged until <see cref="Complete"/> returns (the checkpoint writer passes live tensors and the training
/// step waits for the save). Small managed buffers are copied before they are queued.
/// </remarks>
internal sealed unsafe class HashingFileWriter : IDisposable
{
    /// <summary>Bytes per write: large enough for sequential throughput, small enough to start hashing early.</summary>
    private const int ChunkBytes = 8 << 20;

    private readonly FileStream _stream;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly BlockingCollection<(IntPtr Data, int Length, byte[]? Copy)> _toHash = new();
    private readonly Task _hashing;

    /// <summary>Creates (or truncates) the file.</summary>
    public HashingFileWriter(string path, long crashAfterBytes = -1)
    {
        // bufferSize 0: writes go straight from the caller's memory to the kernel, no managed copy.
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        CrashAfterBytes = crashAfterBytes;
        _hashing = Task.Factory.StartNew(HashQueued, TaskCreationOptions.LongRunning);
    }

    /// <summary>Bytes written so far.</summary>
    public long Written { get; private set; }

    /// <summary>Fault injection for tests: flush and kill the process once this many bytes are written (-1: never).</summary>
    public long CrashAfterBytes { get; }

    /// <summary>Writes a small managed buffer (e.g. a header).</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        _toHash.Add((IntPtr.Zero, bytes.Length, bytes.ToArray()));
        _stream.Write(bytes);
        Advance(bytes.Length);
    }

    /// <summary>Writes <paramref name="length"/> bytes from native memory (a tensor's data) in large chunks.</summary>
    public void Write(IntPtr data, long length)
    {
        var p = (byte*)data;
        for (long done = 0; done < length;)
        {
            var n = (int)Math.Min(ChunkBytes, length - done);
            var chunk = (IntPtr)(p + done);
            _toHash.Add((chunk, n, null));
            _stream.Write(new ReadOnlySpan<byte>((void*)chunk, n));
            done += n;
            Advance(n);
        }
    }

    /// <summary>fsyncs the file while the hash catches up, and returns its size and SHA-256 (lowercase hex).</summary>
    public (long Bytes, string Sha256) Complete()
    {
        _toHash.CompleteAdding();
        _stream.Flush(flushToDisk: true);
        _hashing.GetAwaiter().GetResult();
        return (Written, Convert.ToHexStringLower(_hash.GetHashAndReset()));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _toHash.CompleteAdding();
        try
        {
            _hashing.Wait();
        }
        catch (AggregateException)
        {
            // The writer is being abandoned after an error; that error is the one to report.
        }
        _stream.Dispose();
        _hash.Dispose();
        _toHash.Dispose();
    }

    private void HashQueued()
    {
        foreach (var (data, length, copy) in _toHash.GetConsumingEnumerable())
        {
            _hash.AppendData(copy is not null ? copy : new ReadOnlySpan<byte>((void*)data, length));
        }
    }

    private void Advance(long n)
    {
        Written += n;
        if (CrashAfterBytes >= 0 && Written >= CrashAfterBytes)
        {
            _stream.Flush(flushToDisk: true);
            Environment.FailFast($"fault injection: killed after writing {Written} bytes of {_stream.Name}");
        }
    }
}
