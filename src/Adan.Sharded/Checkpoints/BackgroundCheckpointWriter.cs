using System.Runtime.InteropServices;
using Adan.Sharded.Collectives;
using Adan.Sharded.IO;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Saves sharded checkpoints while training goes on: <see cref="StartAsync"/> copies this rank's shard (its slice of
/// the parameters and of the optimizer's state buffers) into staging memory allocated once, and a background thread writes,
/// hashes, fsyncs and reports it (the same file, bytes and commit record as <see cref="CheckpointWriter.SaveAsync"/>);
/// the manifest is committed at a later step boundary, once every rank's shard is durable.
/// </summary>
/// <remarks>
/// <para>
/// Commit protocol. A save is pending from its <see cref="StartAsync"/> until it commits or fails. Every rank calls
/// the same methods at the same step boundaries (the trainer calls <see cref="PollAsync"/> after every step and
/// <see cref="StartAsync"/> / <see cref="CompleteAsync"/> at the same steps on every rank), so every collective below
/// is entered by all ranks together and no rank blocks in one while another trains:
/// </para>
/// <list type="number">
/// <item><see cref="PollAsync"/>: each rank checks without blocking whether its background write finished, and one
/// all-reduce of 5W + 7 longs carries "not done" counts together with every finished shard's size and checksum. All
/// ranks get the same sums, so all take the same branch: someone not done, return and train on (the save stays
/// pending); all done, rank 0 commits the manifest from the exchanged shard list and one all-reduce of a double tells
/// everyone whether it did.</item>
/// <item><see cref="StartAsync"/> while a save is pending, and <see cref="CompleteAsync"/> (end of training), first
/// wait for the local write (a kernel wait, no core taken), then in a sleeping barrier for the other ranks, then
/// exchange and commit as above. A new save therefore never overtakes the previous one: they commit in order, and
/// the staging memory is free again before it is overwritten.</item>
/// </list>
/// <para>
/// A rank that dies before the commit leaves no manifest, so the previous checkpoint stays the latest, as with a
/// synchronous save. The staging memory (20 bytes per shard element and the header, see <see cref="StagingBytes"/>) holds the shard
/// file's image, which is written from there with direct I/O, and is allocated and
/// touched in the constructor: first touch of fresh memory is about ten times slower than copying into memory
/// already mapped on the machines this runs on, which would make the first save's pause ten times longer.
/// </para>
/// </remarks>
public sealed class BackgroundCheckpointWriter : IDisposable
{
    private readonly CheckpointWriter _writer;
    private readonly ICollective _collective;
    private readonly ShardedOptimizer _adan;
    private readonly IntPtr _staging;
    private readonly long _dataBytes;
    private readonly HostStaging? _hostStaging;
    private readonly bool _ownsHostStaging;
    private Pending? _pending;
    private bool _disposed;

    /// <summary>Creates a writer for <paramref name="adan"/>'s shard and allocates its staging memory.</summary>
    /// <param name="catalog">Where checkpoints are opened and committed (local directory or coordinator).</param>
    /// <param name="collective">The job's collective (rank and world size).</param>
    /// <param name="adan">The optimizer whose shard (and parameters) every save copies.</param>
    /// <param name="faults">Test seam that kills a rank mid-shard; null (no faults) outside tests.</param>
    /// <param name="hostStaging">
    /// Host memory to copy the shard into instead of a file image (the run's, shared with its loads): then the write
    /// goes from there through the ring, as a synchronous save's does, and no image is allocated. Null: an image for
    /// tensors in CPU memory; for tensors elsewhere (a GPU run) a staging set this writer allocates and owns.
    /// </param>
    public BackgroundCheckpointWriter(ICheckpointCatalog catalog, ICollective collective, ShardedOptimizer adan, ICheckpointFaults? faults = null,
        HostStaging? hostStaging = null)
    {
        ArgumentNullException.ThrowIfNull(adan);
        ArgumentNullException.ThrowIfNull(collective);
        _collective = collective;
        _adan = adan;
        if (hostStaging is null && HostStaging.IsRequired(adan))
        {
            hostStaging = new HostStaging(adan, collective.Rank);
            _ownsHostStaging = true;
        }
        hostStaging?.RequireFor(adan);
        _hostStaging = hostStaging;
        _writer = new CheckpointWriter(catalog, collective, faults);
        _dataBytes = adan.Flat.Layout.ShardSize * sizeof(float) + adan.StoredState.Sum(t => adan.ShardSlice(t, collective.Rank).Count * t.ElementSize);
        if (hostStaging is not null)
        {
            // The shard waits in the host staging (page-locked on CUDA machines) while it is written; no image.
            StagingBytes = hostStaging.Bytes;
            return;
        }
        // Room for the whole file image, so it is written straight from here: the longest header (any step), the
        // data, and the padding of the last direct write.
        var header = CheckpointWriter.ShardHeader(adan, collective.Rank, collective.WorldSize, long.MaxValue).Length;
        StagingBytes = (header + _dataBytes + 2L * DirectFile.Alignment - 1) / DirectFile.Alignment * DirectFile.Alignment;
        _staging = AllocateTouched(StagingBytes);
    }

    /// <summary>Bytes of host staging memory held for the life of the writer (the file image, or the host staging it copies into).</summary>
    public long StagingBytes { get; }

    /// <summary>The step of the save being written or waiting for its commit; null when none is.</summary>
    public long? PendingStep => _pending?.Save.Step;

    /// <summary>
    /// Commits the pending save first, waiting for it if needed, then copies this rank's shard at optimizer step
    /// <paramref name="step"/> into staging memory and starts writing it in the background. Training may change the
    /// parameters and state as soon as this returns.
    /// </summary>
    /// <param name="step">Optimizer steps completed.</param>
    /// <param name="progress">The trainer's position, stored in the manifest as it is now.</param>
    /// <param name="cancellationToken">Cancels the catalogue calls.</param>
    /// <returns>The previous save's manifest when this call committed it, else null.</returns>
    /// <exception cref="CheckpointException">The previous save failed; no new save was started.</exception>
    /// <remarks>Collective: every rank must call, at the same step.</remarks>
    public async Task<CheckpointManifest?> StartAsync(long step, TrainingProgress progress, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(progress);
        var committed = await CompleteAsync(cancellationToken).ConfigureAwait(false);
        int rank = _collective.Rank, worldSize = _collective.WorldSize;
        // The manifest's optimizer state and the shard bytes are taken at the same step boundary.
        var manifest = CheckpointWriter.BuildManifest(_adan, step, worldSize, progress);
        var save = new CheckpointWriter.LocalSave(step, CheckpointWriter.ShardHeader(_adan, rank, worldSize, step)) { ModuleBuffers = progress.ModuleBuffers };
        Task writing;
        if (_hostStaging is not null)
        {
            // Device → host at this boundary; the file is then written from the host copy, header and slices through the ring.
            var slices = _hostStaging.CopyShardToHost();
            writing = Task.Factory.StartNew(() => _writer.WriteAndReportAsync(save, slices, cancellationToken).GetAwaiter().GetResult(),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        else
        {
            // The staging memory holds the file image: header, then the five slices.
            Marshal.Copy(save.Header, 0, _staging, save.Header.Length);
            Stage(CheckpointWriter.LiveShard(_adan, rank), _staging + save.Header.Length);
            var length = save.Header.Length + _dataBytes;
            writing = Task.Factory.StartNew(() => _writer.WriteImageAndReportAsync(save, _staging, length, cancellationToken).GetAwaiter().GetResult(),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        _pending = new Pending(save, manifest, writing);
        return committed;
    }

    /// <summary>
    /// Commits the pending save if every rank's shard is durable, without waiting for any rank's write.
    /// </summary>
    /// <returns>The committed manifest; null when no save is pending or some rank is still writing.</returns>
    /// <exception cref="CheckpointException">A rank failed to write its shard, or the commit failed; the save is dropped and
    /// the previous checkpoint stays the latest.</exception>
    /// <remarks>Collective: every rank must call, at the same step. One all-reduce of 5W + 7 longs while a save is pending;
    /// nothing when none is.</remarks>
    public async Task<CheckpointManifest?> PollAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_pending is not { } pending)
        {
            return null;
        }
        var exchange = _writer.Exchange(pending.Save, pending.Writing.IsCompleted);
        if (exchange[^1] > 0)
        {
            return null;
        }
        return await CommitAsync(pending, exchange, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the pending save's shards on every rank and commits it.</summary>
    /// <returns>The committed manifest; null when no save was pending.</returns>
    /// <exception cref="CheckpointException">See <see cref="PollAsync"/>.</exception>
    /// <remarks>Collective: every rank must call, at the same step.</remarks>
    public async Task<CheckpointManifest?> CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_pending is not { } pending)
        {
            return null;
        }
        await pending.Writing.ConfigureAwait(false);
        // The others may still be writing: wait without spinning on a core their hashing needs.
        _collective.SleepingBarrier();
        var exchange = _writer.Exchange(pending.Save, done: true);
        return await CommitAsync(pending, exchange, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for a background write still running and frees the staging memory. A save not yet committed stays
    /// uncommitted (the previous checkpoint stays the latest); call <see cref="CompleteAsync"/> first to keep it.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _pending?.Writing.Wait();
        _pending = null;
        if (_staging != IntPtr.Zero)
        {
            Free(_staging);
        }
        if (_ownsHostStaging)
        {
            _hostStaging!.Dispose();
        }
    }

    private static unsafe IntPtr AllocateTouched(long bytes)
    {
        var memory = NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), DirectFile.Alignment);
        NativeMemory.Clear(memory, (nuint)bytes);
        return (IntPtr)memory;
    }

    private static unsafe void Free(IntPtr memory) => NativeMemory.AlignedFree((void*)memory);

    /// <summary>Copies the slices one after the other into <paramref name="staging"/>: the shard's data in file order.</summary>
    private static unsafe void Stage(IReadOnlyList<(IntPtr Data, long Bytes)> slices, IntPtr staging)
    {
        var target = (byte*)staging;
        foreach (var (data, bytes) in slices)
        {
            Buffer.MemoryCopy((void*)data, target, bytes, bytes);
            target += bytes;
        }
    }

    private async Task<CheckpointManifest> CommitAsync(Pending pending, long[] exchange, CancellationToken cancellationToken)
    {
        // Dropped whatever the outcome: a failed save is not retried, and the next one may reuse the staging memory.
        _pending = null;
        return await _writer.CommitAsync(pending.Save, pending.Manifest, exchange, cancellationToken).ConfigureAwait(false);
    }

    private sealed record Pending(CheckpointWriter.LocalSave Save, CheckpointManifest Manifest, Task Writing);
}
