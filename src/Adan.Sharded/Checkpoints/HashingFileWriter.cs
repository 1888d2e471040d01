using System.Security.Cryptography;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Writes a new file sequentially in large unbuffered writes and computes its SHA-256 on the way: each chunk is
/// hashed on a pool thread while the same chunk is written, so the checksum costs no second read and, on two or
/// more cores, little extra time.
/// </summary>
internal sealed unsafe class HashingFileWriter : IDisposable
{
    /// <summary>Bytes per write: large enough for sequential throughput, small enough to overlap hash and write.</summary>
    private const int ChunkBytes = 8 << 20;

    private readonly FileStream _stream;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private Task? _pendingHash;

    /// <summary>Creates (or truncates) the file.</summary>
    public HashingFileWriter(string path, long crashAfterBytes = -1)
    {
        // bufferSize 0: writes go straight from the caller's memory to the kernel, no managed copy.
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        CrashAfterBytes = crashAfterBytes;
    }

    /// <summary>Bytes written so far.</summary>
    public long Written { get; private set; }

    /// <summary>Fault injection for tests: flush and kill the process once this many bytes are written (-1: never).</summary>
    public long CrashAfterBytes { get; }

    /// <summary>Writes a small managed buffer (e.g. a header).</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        WaitForHash();
        _hash.AppendData(bytes);
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
            WaitForHash();
            var chunk = (IntPtr)(p + done);
            _pendingHash = Task.Run(() => _hash.AppendData(new ReadOnlySpan<byte>((void*)chunk, n)));
            _stream.Write(new ReadOnlySpan<byte>((void*)chunk, n));
            done += n;
            Advance(n);
        }
    }

    /// <summary>fsyncs the file and returns its size and SHA-256 (lowercase hex).</summary>
    public (long Bytes, string Sha256) Complete()
    {
        WaitForHash();
        _stream.Flush(flushToDisk: true);
        return (Written, Convert.ToHexStringLower(_hash.GetHashAndReset()));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            _pendingHash?.Wait();
        }
        catch (AggregateException)
        {
            // The writer is being abandoned after an error; that error is the one to report.
        }
        _stream.Dispose();
        _hash.Dispose();
    }

    private void WaitForHash()
    {
        _pendingHash?.GetAwaiter().GetResult();
        _pendingHash = null;
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
