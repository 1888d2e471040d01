using System.Collections.Concurrent;

namespace Adan.Sharded.IO;

/// <summary>
/// Reads a file front to back on a second thread into a ring of staging slots and hands the caller each chunk in
/// order, so the caller's work on one chunk (hashing a shard, scattering its slices) overlaps the device reading the
/// next ones. Reads are direct (<see cref="DirectFile"/>) where the file system allows it: a checkpoint read once
/// need not cost page-cache allocation, nor evict the training data from the cache.
/// </summary>
internal static unsafe class SequentialFileReader
{
    /// <summary>What the caller does with a chunk; the memory is valid only during the call.</summary>
    public delegate void ChunkHandler(ReadOnlySpan<byte> chunk, long offset);

    /// <summary>Calls <paramref name="handle"/> for consecutive chunks that together cover the whole file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="handle">Called for each chunk, in order.</param>
    /// <param name="direct">False to read through the page cache (a file several processes of the node read).</param>
    /// <returns>The bytes read (the file's length when it did not change while being read).</returns>
    /// <exception cref="IOException">The file cannot be opened or read; the message names it.</exception>
    public static long ForEachChunk(string path, ChunkHandler handle, bool direct = true)
    {
        ArgumentNullException.ThrowIfNull(handle);
        using var file = DirectFile.OpenRead(path, direct);
        var ring = StagingRings.Rent();
        using var filled = new BlockingCollection<(int Slot, int Length)>();
        using var free = new SemaphoreSlim(StagingRings.SlotCount, StagingRings.SlotCount);
        using var stop = new CancellationTokenSource();
        var reading = Task.Factory.StartNew(() => ReadAll(file, ring, filled, free, stop.Token), TaskCreationOptions.LongRunning);
        var offset = 0L;
        try
        {
            foreach (var (slot, length) in filled.GetConsumingEnumerable())
            {
                handle(new ReadOnlySpan<byte>(StagingRings.Slot(ring, slot), length), offset);
                offset += length;
                free.Release();
            }
        }
        finally
        {
            // A caller that throws stops the reader before the ring goes back to the pool.
            stop.Cancel();
            try
            {
                reading.Wait();
            }
            catch (AggregateException)
            {
                // The reader's own failure is reported below; after a failing caller, the caller's exception is the one to see.
            }
            StagingRings.Return(ring);
        }
        if (reading.Exception is { } failure)
        {
            throw new IOException($"cannot read '{path}': {failure.InnerException?.Message}", failure.InnerException);
        }
        return offset;
    }

    private static void ReadAll(DirectFile file, byte* ring, BlockingCollection<(int, int)> filled, SemaphoreSlim free, CancellationToken stop)
    {
        try
        {
            var slot = 0;
            for (var position = 0L; ;)
            {
                free.Wait(stop);
                var buffer = new Span<byte>(StagingRings.Slot(ring, slot), StagingRings.SlotBytes);
                var length = file.Read(buffer, position);
                if (length == 0)
                {
                    return;
                }
                filled.Add((slot, length), stop);
                position += length;
                slot = (slot + 1) % StagingRings.SlotCount;
                if (length < buffer.Length)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            filled.CompleteAdding();
        }
    }
}
