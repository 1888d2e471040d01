using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.IO;
using Adan.Sharded.Telemetry;
using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using TorchSharp;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Saves a <see cref="ShardedOptimizer"/> run as a sharded checkpoint: rank r writes <c>shard-{r:05}-of-{W:05}.safetensors</c>
/// holding its slice [r·S, (r+1)·S) of the flat fp32 parameters and of <c>exp_avg</c>, <c>exp_avg_sq</c>,
/// <c>exp_avg_diff</c>, <c>neg_pre_grad</c>; <c>manifest.json</c>, written last and atomically by the catalogue,
/// commits it. <see cref="CheckpointReader"/> loads it back.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="SaveAsync"/> is synchronous and blocks training: it returns only after this rank's shard is written,
/// fsynced and reported and the manifest is committed, and the next step must not start before it returns, because
/// the shard is written straight from the live parameter and state tensors and the next step updates them in place.
/// <see cref="BackgroundCheckpointWriter"/> writes the same files from a staging copy while training goes on, at the
/// cost of that copy's memory; it uses this type's pieces (write and report, exchange, commit).
/// </para>
/// <para>
/// The files do not depend on the ZeRO stage: with stage 0 (replicated state) each rank slices the range a ZeRO-1
/// rank would own out of its full buffers.
/// </para>
/// </remarks>
public sealed class CheckpointWriter
{
    private readonly ICheckpointCatalog _catalog;
    private readonly ICollective _collective;
    private readonly ICheckpointFaults? _faults;
    private readonly HostStaging? _staging;

    /// <summary>Creates a writer that opens and commits checkpoints through <paramref name="catalog"/>.</summary>
    /// <param name="catalog">Where checkpoints are opened and committed (local directory or coordinator).</param>
    /// <param name="collective">The job's collective (rank and world size).</param>
    /// <param name="faults">Test seam that kills a rank mid-shard; null (no faults) outside tests.</param>
    /// <param name="staging">Host memory the shard is copied into before it is written (the run's, allocated once); null:
    /// written from the tensors when they are in CPU memory, through staging allocated for the save otherwise.</param>
    public CheckpointWriter(ICheckpointCatalog catalog, ICollective collective, ICheckpointFaults? faults = null, HostStaging? staging = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(collective);
        _catalog = catalog;
        _collective = collective;
        _faults = faults;
        _staging = staging;
    }

    /// <summary>
    /// Saves the run at optimizer step <paramref name="step"/>: Begin, write + fsync + report this rank's shard, one
    /// all-reduce that exchanges every shard's size and checksum (and acts as the barrier "all shards durable and
    /// reported"), then rank 0 commits the manifest. Returns the committed manifest on every rank.
    /// </summary>
    /// <param name="adan">The optimizer; its <see cref="ShardedOptimizer.Flat"/> parameters are saved too.</param>
    /// <param name="step">Optimizer steps completed.</param>
    /// <param name="progress">The trainer's position (LR schedule, sampler, seeds, extra JSON), stored in the manifest.</param>
    /// <param name="cancellationToken">Cancels the catalogue calls.</param>
    /// <exception cref="CheckpointException">The step is already committed, or a rank failed to write, report or commit; the
    /// previous checkpoint stays the latest.</exception>
    /// <remarks>Collective: every rank must call. Blocks training until the checkpoint is committed (see the type's remarks).</remarks>
    public async Task<CheckpointManifest> SaveAsync(ShardedOptimizer adan, long step, TrainingProgress progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(adan);
        ArgumentNullException.ThrowIfNull(progress);
        var manifest = BuildManifest(adan, step, _collective.WorldSize, progress);
        var save = new LocalSave(step, ShardHeader(adan, _collective.Rank, _collective.WorldSize, step)) { ModuleBuffers = progress.ModuleBuffers };
        // Tensors outside CPU memory are copied to the host first; a run that saves often passes its own staging.
        using (var temporary = _staging is null && HostStaging.IsRequired(adan) ? new HostStaging(adan, _collective.Rank) : null)
        {
            await WriteAndReportAsync(save, ShardData(adan, _collective.Rank, _staging ?? temporary), cancellationToken).ConfigureAwait(false);
        }
        // Ranks finish their shards at different times; those done first wait without taking a core from the rest.
        _collective.SleepingBarrier();
        var exchange = Exchange(save, done: true);
        return await CommitAsync(save, manifest, exchange, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One rank's part of a save up to the exchange: its ticket, its durable shard or why it has none, and on rank 0 the
    /// module buffers file.
    /// </summary>
    internal sealed class LocalSave(long step, byte[] header)
    {
        public long Step { get; } = step;

        public byte[] Header { get; } = header;

        /// <summary>The model's buffers at the save; rank 0 writes them into the buffers file.</summary>
        public IReadOnlyList<ModuleBuffer> ModuleBuffers { get; init; } = [];

        /// <summary>Rank 0's written buffers file; null elsewhere and when the model has no buffers.</summary>
        public CheckpointFileEntry? BuffersFile { get; set; }

        public CheckpointTicket? Ticket { get; set; }

        public CheckpointShard? Shard { get; set; }

        public string? Failure { get; set; }
    }

    /// <summary>
    /// Begin, write + fsync this rank's shard (the header, then <paramref name="data"/>: the five tensors' slices, in
    /// order) and report it; a failure is kept in <paramref name="save"/> for the exchange, never thrown, so every rank
    /// still reaches the collective.
    /// </summary>
    internal Task WriteAndReportAsync(LocalSave save, IReadOnlyList<(IntPtr Data, long Bytes)> data, CancellationToken cancellationToken) =>
        WriteAndReportAsync(save, save.Header.Length + data.Sum(d => d.Bytes), (path, killAfter) => WriteSlices(path, killAfter, save.Header, data),
            cancellationToken);

    /// <summary>
    /// As <see cref="WriteAndReportAsync(LocalSave, IReadOnlyList{ValueTuple{IntPtr, long}}, CancellationToken)"/>, for a
    /// file image (header and data) already laid out in aligned memory, which is written straight from there.
    /// </summary>
    internal Task WriteImageAndReportAsync(LocalSave save, IntPtr image, long length, CancellationToken cancellationToken) =>
        WriteAndReportAsync(save, length, (path, killAfter) => HashingFileWriter.WriteImage(path, image, length, killAfter), cancellationToken);

    private async Task WriteAndReportAsync(LocalSave save, long fileBytes, Func<string, long, (long Bytes, string Sha256)> writeFile,
        CancellationToken cancellationToken)
    {
        try
        {
            save.Ticket = await _catalog.BeginAsync(save.Step, cancellationToken).ConfigureAwait(false);
            if (_collective.Rank == 0 && save.ModuleBuffers.Count > 0)
            {
                // Made durable with the shard: WriteShard fsyncs the directory after both files.
                save.BuffersFile = ModuleBuffersFile.Write(save.Ticket.Directory, save.ModuleBuffers, save.Step);
            }
            CheckpointShard shard;
            using (var write = ShardedTelemetry.ActivitySource.StartActivity("checkpoint.write"))
            {
                shard = WriteShard(save.Ticket.Directory, fileBytes, writeFile);
                write?.SetTag("bytes", shard.Bytes);
            }
            await _catalog.ReportShardAsync(save.Ticket, shard, cancellationToken).ConfigureAwait(false);
            save.Shard = shard;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            save.Failure = e.Message;
        }
    }

    /// <summary>
    /// The all-reduce that tells every rank every shard's size and checksum, how many ranks failed (<c>[^2]</c>) and
    /// how many are not done writing (<c>[^1]</c>): slot r holds rank r's size and checksum (5 longs), slot W the
    /// module buffers file's (rank 0's; size 0 for none).
    /// </summary>
    /// <remarks>Collective: every rank must call. Every rank gets the same array, so all decide alike.</remarks>
    internal long[] Exchange(LocalSave save, bool done)
    {
        var exchange = new long[ExchangeLength(_collective.WorldSize)];
        var rank = _collective.Rank;
        if (!done)
        {
            exchange[^1] = 1;
        }
        else if (save.Shard is { } shard)
        {
            Put(exchange, rank, shard.Bytes, shard.Sha256);
            if (save.BuffersFile is { } buffers)
            {
                Put(exchange, _collective.WorldSize, buffers.Bytes, buffers.Sha256);
            }
        }
        else
        {
            exchange[^2] = 1;
        }
        _collective.AllReduce(exchange.AsSpan(), ReduceOp.Sum);
        return exchange;
    }

    /// <summary>Longs in <see cref="Exchange"/>: 5 per shard, 5 for the buffers file, the failure and not-done counts.</summary>
    internal static int ExchangeLength(int worldSize) => (worldSize + 1) * 5 + 2;

    private static void Put(long[] exchange, int slot, long bytes, string sha256)
    {
        exchange[slot * 5] = bytes;
        var sha = Convert.FromHexString(sha256);
        for (var i = 0; i < 4; i++)
        {
            exchange[slot * 5 + 1 + i] = BitConverter.ToInt64(sha, i * 8);
        }
    }

    private static (long Bytes, string Sha256) Take(long[] exchange, int slot)
    {
        var hash = new byte[32];
        for (var i = 0; i < 4; i++)
        {
            BitConverter.TryWriteBytes(hash.AsSpan(i * 8), exchange[slot * 5 + 1 + i]);
        }
        return (exchange[slot * 5], Convert.ToHexStringLower(hash));
    }

    /// <summary>
    /// After an <see cref="Exchange"/> in which every rank was done: aborts when a rank failed, else rank 0 commits the
    /// manifest with the exchanged shard list and one more all-reduce tells every rank whether it did.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    internal async Task<CheckpointManifest> CommitAsync(LocalSave save, CheckpointManifest manifest, long[] exchange, CancellationToken cancellationToken)
    {
        int rank = _collective.Rank, worldSize = _collective.WorldSize;
        var step = save.Step;
        if (exchange[^2] > 0)
        {
            if (rank == 0 && save.Ticket is not null)
            {
                await _catalog.AbortAsync(save.Ticket, $"{exchange[^2]} rank(s) failed to write their shard", cancellationToken).ConfigureAwait(false);
            }
            throw new CheckpointException(save.Failure is not null
                ? $"rank {rank} could not save step {step}: {save.Failure}"
                : $"step {step} was not saved: {exchange[^2]} other rank(s) failed to write their shard; the previous checkpoint stays the latest.");
        }

        var shards = new CheckpointShard[worldSize];
        for (var r = 0; r < worldSize; r++)
        {
            var (bytes, sha256) = Take(exchange, r);
            shards[r] = new CheckpointShard(r, CheckpointFiles.ShardFileName(r, worldSize), bytes, sha256);
        }
        var buffers = Take(exchange, worldSize);
        manifest = manifest with
        {
            Shards = shards,
            ModuleBuffers = buffers.Bytes > 0 ? new CheckpointFileEntry(CheckpointFiles.ModuleBuffersFileName, buffers.Bytes, buffers.Sha256) : null,
        };

        string? failure = null;
        if (rank == 0)
        {
            failure = await CommitManifestAsync(save.Ticket!, manifest, cancellationToken).ConfigureAwait(false);
        }
        // Nobody returns before the commit is decided, so Latest is consistent on every rank afterwards.
        if (_collective.AllReduce(failure is null ? 0.0 : 1.0, ReduceOp.Max) > 0)
        {
            throw new CheckpointException(failure is not null
                ? $"step {step} could not be committed: {failure}"
                : $"step {step} could not be committed by rank 0; the previous checkpoint stays the latest.");
        }
        return manifest;
    }

    /// <summary>Rank 0's commit of the manifest; returns why it failed, or null.</summary>
    /// <remarks>The one place the manifest is handed to the catalogue, so a change of the catalogue's commit signature stays here.</remarks>
    private async Task<string?> CommitManifestAsync(CheckpointTicket ticket, CheckpointManifest manifest, CancellationToken cancellationToken)
    {
        using var commit = ShardedTelemetry.ActivitySource.StartActivity("checkpoint.commit");
        try
        {
            await _catalog.CommitAsync(ticket, manifest, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return e.Message;
        }
    }

    internal static CheckpointManifest BuildManifest(ShardedOptimizer adan, long step, int worldSize, TrainingProgress progress) => new()
    {
        Step = step,
        WorldSize = worldSize,
        ZeroStage = (int)adan.Stage,
        Layout = adan.Flat.Layout.ToDocument(),
        Tensors = [.. ShardTensorNames(adan)],
        Optimizer = new CheckpointOptimizerState(adan.Name, adan.MaxGradNorm, adan.SkippedSteps,
            [.. adan.Groups.Select(g => new CheckpointGroup(g.Step, [.. g.ParameterIndices])
            {
                Options = (System.Text.Json.Nodes.JsonObject)System.Text.Json.JsonSerializer.SerializeToNode(g.Options, g.Options.GetType())!,
            })])
        {
            ParameterSteps = [.. adan.ParameterSteps],
            State = [.. adan.StoredState.Select(t => new CheckpointStateTensor(t.Name, t.DType, [StoredShape(adan, t)]))],
            StateMode = adan.StateMode == OptimizerStateMode.Fp32 ? null : adan.StateMode.Name(),
        },
        LearningRateStep = progress.LearningRateStep,
        Sampler = progress.Sampler,
        RngSeeds = new Dictionary<string, long>(progress.RngSeeds),
        Extra = progress.Extra is null ? [] : (System.Text.Json.Nodes.JsonObject)progress.Extra.DeepClone(),
    };

    /// <summary>The tensors of a shard file, in file order: the parameters, then the optimizer's stored state tensors.</summary>
    internal static IEnumerable<string> ShardTensorNames(ShardedOptimizer optimizer) => optimizer.StoredState.Select(t => t.Name).Prepend("param");

    /// <summary>
    /// The manifest's shape of a stored tensor: a shard's entries ([S] or [S / 256]), or for the <c>.small</c> tensors,
    /// whose shards differ in length, the small parameters' elements over all shards.
    /// </summary>
    private static long StoredShape(ShardedOptimizer adan, StoredStateTensor t) =>
        t.Extent == StateExtent.Small ? adan.SmallParameters.Total : t.Count(adan.SmallParameters, 0, adan.Flat.Layout.ShardSize);

    /// <summary>The shard file's safetensors header for this rank's slice at <paramref name="step"/>.</summary>
    internal static byte[] ShardHeader(ShardedOptimizer adan, int rank, int worldSize, long step)
    {
        var layout = adan.Flat.Layout;
        return SafetensorsHeader.For(adan.StoredState.Select(t => (t.Name, t.DType, new[] { adan.ShardSlice(t, rank).Count }))
                .Prepend(("param", "F32", new[] { layout.ShardSize })),
            new Dictionary<string, string>
            {
                ["format"] = "pt",
                ["adan.step"] = step.ToString(CultureInfo.InvariantCulture),
                ["adan.rank"] = rank.ToString(CultureInfo.InvariantCulture),
                ["adan.world_size"] = worldSize.ToString(CultureInfo.InvariantCulture),
                ["adan.flat_start"] = layout.ShardStart(rank).ToString(CultureInfo.InvariantCulture),
            });
    }

    /// <summary>
    /// This rank's shard in file order: the live tensors' slices (<see cref="LiveShard"/>) without staging, else the
    /// staging memory's after a device → host copy.
    /// </summary>
    internal static IReadOnlyList<(IntPtr Data, long Bytes)> ShardData(ShardedOptimizer adan, int rank, HostStaging? staging)
    {
        if (staging is null)
        {
            return LiveShard(adan, rank);
        }
        staging.RequireFor(adan);
        return staging.CopyShardToHost();
    }

    /// <summary>
    /// This rank's slices of the live parameters and the optimizer's state buffers, in file order. Stage 0 keeps whole buffers:
    /// the range a ZeRO-1 rank would own is sliced out, so files never depend on the stage.
    /// </summary>
    internal static IReadOnlyList<(IntPtr Data, long Bytes)> LiveShard(ShardedOptimizer adan, int rank)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; writing it from a big-endian host's memory is not supported.");
        }
        var layout = adan.Flat.Layout;
        var start = layout.ShardStart(rank);
        var bytes = layout.ShardSize * sizeof(float);
        TensorMemory.RequireContiguousCpu(adan.Flat.Values, torch.ScalarType.Float32, "flat parameters");
        var slices = new List<(IntPtr, long)> { (TensorMemory.DataPointer(adan.Flat.Values) + (nint)(start * sizeof(float)), bytes) };
        foreach (var stored in adan.StoredState)
        {
            TensorMemory.RequireContiguousCpu(stored.Tensor, stored.Tensor.dtype, stored.Name);
            var (offset, count) = adan.ShardSlice(stored, rank);
            slices.Add((TensorMemory.DataPointer(stored.Tensor) + (nint)(offset * stored.ElementSize), count * stored.ElementSize));
        }
        return slices;
    }

    /// <summary>Writes the shard file with <paramref name="writeFile"/> (path, kill-after bytes) and makes its directory entry durable.</summary>
    private CheckpointShard WriteShard(string directory, long fileBytes, Func<string, long, (long Bytes, string Sha256)> writeFile)
    {
        int rank = _collective.Rank, worldSize = _collective.WorldSize;
        var fileName = CheckpointFiles.ShardFileName(rank, worldSize);
        var killAfter = _faults?.KillAfterBytes(rank, fileBytes) ?? -1;
        var written = writeFile(Path.Combine(directory, fileName), killAfter);
        // The file's directory entry must be durable before the shard is reported as written.
        AtomicFile.SyncDirectory(directory);
        return new CheckpointShard(rank, fileName, written.Bytes, written.Sha256);
    }

    /// <summary>Writes the header, then the slices, through a ring of staging slots.</summary>
    private static (long Bytes, string Sha256) WriteSlices(string path, long killAfter, byte[] header, IReadOnlyList<(IntPtr Data, long Bytes)> data)
    {
        using var writer = new HashingFileWriter(path, killAfter);
        writer.Write(header);
        foreach (var (pointer, bytes) in data)
        {
            writer.Write(pointer, bytes);
        }
        return writer.Complete();
    }
}
