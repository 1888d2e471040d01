using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.IO;
using Adan.Sharded.Telemetry;
using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using TorchSharp;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Saves a <see cref="ShardedAdan"/> run as a sharded checkpoint: rank r writes <c>shard-{r:05}-of-{W:05}.safetensors</c>
/// holding its slice [r·S, (r+1)·S) of the flat fp32 parameters and of <c>exp_avg</c>, <c>exp_avg_sq</c>,
/// <c>exp_avg_diff</c>, <c>neg_pre_grad</c>; <c>manifest.json</c>, written last and atomically by the catalogue,
/// commits it. <see cref="CheckpointReader"/> loads it back.
/// </summary>
/// <remarks>
/// <para>
/// Saving is synchronous and blocks training: <see cref="SaveAsync"/> returns only after this rank's shard is written,
/// fsynced and reported and the manifest is committed, and the next step must not start before it returns, because
/// the shard is written straight from the live parameter and state tensors (no snapshot copy: that would double the
/// optimizer memory ZeRO saves) and the next step updates them in place.
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

    /// <summary>Creates a writer that opens and commits checkpoints through <paramref name="catalog"/>.</summary>
    /// <param name="catalog">Where checkpoints are opened and committed (local directory or coordinator).</param>
    /// <param name="collective">The job's collective (rank and world size).</param>
    /// <param name="faults">Test seam that kills a rank mid-shard; null (no faults) outside tests.</param>
    public CheckpointWriter(ICheckpointCatalog catalog, ICollective collective, ICheckpointFaults? faults = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(collective);
        _catalog = catalog;
        _collective = collective;
        _faults = faults;
    }

    /// <summary>
    /// Saves the run at optimizer step <paramref name="step"/>: Begin, write + fsync + report this rank's shard, one
    /// all-reduce that exchanges every shard's size and checksum (and acts as the barrier "all shards durable and
    /// reported"), then rank 0 commits the manifest. Returns the committed manifest on every rank.
    /// </summary>
    /// <param name="adan">The optimizer; its <see cref="ShardedAdan.Flat"/> parameters are saved too.</param>
    /// <param name="step">Optimizer steps completed.</param>
    /// <param name="progress">The trainer's position (LR schedule, sampler, seeds, extra JSON), stored in the manifest.</param>
    /// <param name="cancellationToken">Cancels the catalogue calls.</param>
    /// <exception cref="CheckpointException">The step is already committed, or a rank failed to write, report or commit; the
    /// previous checkpoint stays the latest.</exception>
    /// <remarks>Collective: every rank must call. Blocks training until the checkpoint is committed (see the type's remarks).</remarks>
    public async Task<CheckpointManifest> SaveAsync(ShardedAdan adan, long step, TrainingProgress progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(adan);
        ArgumentNullException.ThrowIfNull(progress);
        int rank = _collective.Rank, worldSize = _collective.WorldSize;
        var manifest = BuildManifest(adan, step, worldSize, progress);

        // Slot r holds rank r's size and checksum (4 longs); the last slot counts ranks that failed.
        var exchange = new long[worldSize * 5 + 1];
        CheckpointTicket? ticket = null;
        string? failure = null;
        try
        {
            ticket = await _catalog.BeginAsync(step, cancellationToken).ConfigureAwait(false);
            CheckpointShard shard;
            using (var write = ShardedTelemetry.ActivitySource.StartActivity("checkpoint.write"))
            {
                shard = WriteShard(ticket.Directory, adan, rank, worldSize, step);
                write?.SetTag("bytes", shard.Bytes);
            }
            await _catalog.ReportShardAsync(ticket, shard, cancellationToken).ConfigureAwait(false);
            exchange[rank * 5] = shard.Bytes;
            var sha = Convert.FromHexString(shard.Sha256);
            for (var i = 0; i < 4; i++)
            {
                exchange[rank * 5 + 1 + i] = BitConverter.ToInt64(sha, i * 8);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = e.Message;
            exchange[^1] = 1;
        }
        // Ranks finish their shards at different times; those done first wait without taking a core from the rest.
        _collective.SleepingBarrier();
        _collective.AllReduce(exchange.AsSpan(), ReduceOp.Sum);
        if (exchange[^1] > 0)
        {
            if (rank == 0 && ticket is not null)
            {
                await _catalog.AbortAsync(ticket, $"{exchange[^1]} rank(s) failed to write their shard", cancellationToken).ConfigureAwait(false);
            }
            throw new CheckpointException(failure is not null
                ? $"rank {rank} could not save step {step}: {failure}"
                : $"step {step} was not saved: {exchange[^1]} other rank(s) failed to write their shard; the previous checkpoint stays the latest.");
        }

        var shards = new CheckpointShard[worldSize];
        var hash = new byte[32];
        for (var r = 0; r < worldSize; r++)
        {
            for (var i = 0; i < 4; i++)
            {
                BitConverter.TryWriteBytes(hash.AsSpan(i * 8), exchange[r * 5 + 1 + i]);
            }
            shards[r] = new CheckpointShard(r, CheckpointFiles.ShardFileName(r, worldSize), exchange[r * 5], Convert.ToHexStringLower(hash));
        }
        manifest = manifest with { Shards = shards };

        if (rank == 0)
        {
            failure = await CommitAsync(ticket!, manifest, cancellationToken).ConfigureAwait(false);
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
    private async Task<string?> CommitAsync(CheckpointTicket ticket, CheckpointManifest manifest, CancellationToken cancellationToken)
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

    private static CheckpointManifest BuildManifest(ShardedAdan adan, long step, int worldSize, TrainingProgress progress) => new()
    {
        Step = step,
        WorldSize = worldSize,
        ZeroStage = (int)adan.Stage,
        Layout = adan.Flat.Layout.ToDocument(),
        Optimizer = new CheckpointOptimizerState("adan", adan.MaxGradNorm, adan.SkippedSteps, [.. adan.HasPreviousGradient],
            [.. adan.Groups.Select(g => new CheckpointGroup(g.Options.LearningRate, g.Options.Beta1, g.Options.Beta2, g.Options.Beta3,
                g.Options.Eps, g.Options.WeightDecay, g.Options.NoProx, g.Step, [.. g.ParameterIndices]))]),
        LearningRateStep = progress.LearningRateStep,
        Sampler = progress.Sampler,
        RngSeeds = new Dictionary<string, long>(progress.RngSeeds),
        Extra = progress.Extra is null ? [] : (System.Text.Json.Nodes.JsonObject)progress.Extra.DeepClone(),
    };

    private CheckpointShard WriteShard(string directory, ShardedAdan adan, int rank, int worldSize, long step)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; writing it from a big-endian host's memory is not supported.");
        }
        var layout = adan.Flat.Layout;
        var start = layout.ShardStart(rank);
        var length = layout.ShardSize;
        var fileName = CheckpointFiles.ShardFileName(rank, worldSize);
        var header = SafetensorsHeader.ForFloat32(CheckpointManifest.ShardTensorNames.Select(n => (n, new[] { length })),
            new Dictionary<string, string>
            {
                ["format"] = "pt",
                ["adan.step"] = step.ToString(CultureInfo.InvariantCulture),
                ["adan.rank"] = rank.ToString(CultureInfo.InvariantCulture),
                ["adan.world_size"] = worldSize.ToString(CultureInfo.InvariantCulture),
                ["adan.flat_start"] = start.ToString(CultureInfo.InvariantCulture),
            });
        var total = header.Length + 5 * length * sizeof(float);
        var killAfter = _faults?.KillAfterBytes(rank, total) ?? -1;
        (long Bytes, string Sha256) written;
        using (var writer = new HashingFileWriter(Path.Combine(directory, fileName), killAfter))
        {
            writer.Write(header);
            TensorMemory.RequireContiguousCpu(adan.Flat.Values, torch.ScalarType.Float32, "flat parameters");
            writer.Write(TensorMemory.DataPointer(adan.Flat.Values) + (nint)(start * sizeof(float)), length * sizeof(float));
            foreach (var name in ShardedAdan.StateNames)
            {
                var buffer = adan.StateBuffer(name);
                TensorMemory.RequireContiguousCpu(buffer, torch.ScalarType.Float32, name);
                // Stage 0 keeps the whole buffer: slice the range a ZeRO-1 rank would own, so files never depend on the stage.
                writer.Write(TensorMemory.DataPointer(buffer) + (nint)((start - adan.StateStart) * sizeof(float)), length * sizeof(float));
            }
            written = writer.Complete();
        }
        // The file's directory entry must be durable before the shard is reported as written.
        AtomicFile.SyncDirectory(directory);
        return new CheckpointShard(rank, fileName, written.Bytes, written.Sha256);
    }
}
