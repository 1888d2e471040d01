using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.IO;
using Adan.Sharded.Telemetry;
using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using TorchSharp;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Saves and loads a <see cref="ShardedAdan"/> run as a sharded checkpoint: rank r writes
/// <c>shard-{r:05}-of-{W:05}.safetensors</c> holding its slice [r·S, (r+1)·S) of the flat fp32 parameters and of
/// <c>exp_avg</c>, <c>exp_avg_sq</c>, <c>exp_avg_diff</c>, <c>neg_pre_grad</c>; <c>manifest.json</c>, written last
/// and atomically by the catalogue, commits it. Loading at another world size reslices from the layouts.
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
public static class ShardedCheckpoint
{
    /// <summary>
    /// Fault injection for tests: when this environment variable holds a rank, that rank kills itself
    /// (<see cref="Environment.FailFast(string)"/>) after writing half of its shard file.
    /// </summary>
    public const string FaultRankVariable = "ADAN_CHECKPOINT_FAULT_RANK";

    /// <summary>
    /// Saves the run at optimizer step <paramref name="step"/>: Begin, write + fsync + report this rank's shard, one
    /// all-reduce that exchanges every shard's size and checksum (and acts as the barrier "all shards durable and
    /// reported"), then rank 0 commits the manifest. Returns the committed manifest on every rank.
    /// </summary>
    /// <param name="catalog">Where checkpoints are opened and committed (local directory or coordinator).</param>
    /// <param name="adan">The optimizer; its <see cref="ShardedAdan.Flat"/> parameters are saved too.</param>
    /// <param name="collective">The job's collective (rank and world size).</param>
    /// <param name="step">Optimizer steps completed.</param>
    /// <param name="progress">The trainer's position (LR schedule, sampler, seeds, extra JSON), stored in the manifest.</param>
    /// <param name="cancellationToken">Cancels the catalogue calls.</param>
    /// <exception cref="CheckpointException">The step is already committed, or a rank failed to write, report or commit; the
    /// previous checkpoint stays the latest.</exception>
    /// <remarks>Collective: every rank must call. Blocks training until the checkpoint is committed (see the type's remarks).</remarks>
    public static async Task<CheckpointManifest> SaveAsync(ICheckpointCatalog catalog, ShardedAdan adan, ICollective collective, long step,
        TrainingProgress progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(adan);
        ArgumentNullException.ThrowIfNull(collective);
        ArgumentNullException.ThrowIfNull(progress);
        int rank = collective.Rank, worldSize = collective.WorldSize;
        var manifest = BuildManifest(adan, step, worldSize, progress);

        // Slot r holds rank r's size and checksum (4 longs); the last slot counts ranks that failed.
        var exchange = new long[worldSize * 5 + 1];
        CheckpointTicket? ticket = null;
        string? failure = null;
        try
        {
            ticket = await catalog.BeginAsync(step, cancellationToken).ConfigureAwait(false);
            CheckpointShard shard;
            using (var write = ShardedTelemetry.ActivitySource.StartActivity("checkpoint.write"))
            {
                shard = WriteShard(ticket.Directory, adan, rank, worldSize, step);
                write?.SetTag("bytes", shard.Bytes);
            }
            await catalog.ReportShardAsync(ticket, shard, cancellationToken).ConfigureAwait(false);
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
        collective.SleepingBarrier();
        collective.AllReduce(exchange.AsSpan(), ReduceOp.Sum);
        if (exchange[^1] > 0)
        {
            if (rank == 0 && ticket is not null)
            {
                await catalog.AbortAsync(ticket, $"{exchange[^1]} rank(s) failed to write their shard", cancellationToken).ConfigureAwait(false);
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
            using var commit = ShardedTelemetry.ActivitySource.StartActivity("checkpoint.commit");
            try
            {
                await catalog.CommitAsync(ticket!, manifest, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failure = e.Message;
            }
        }
        // Nobody returns before the commit is decided, so Latest is consistent on every rank afterwards.
        if (collective.AllReduce(failure is null ? 0.0 : 1.0, ReduceOp.Max) > 0)
        {
            throw new CheckpointException(failure is not null
                ? $"step {step} could not be committed: {failure}"
                : $"step {step} could not be committed by rank 0; the previous checkpoint stays the latest.");
        }
        return manifest;
    }

    /// <summary>
    /// Loads a checkpoint into <paramref name="adan"/> (parameters, the four state buffers, group steps, learning
    /// rates, has-previous-gradient flags, skipped steps) and returns its manifest, whose <see cref="CheckpointManifest.Progress"/>
    /// the trainer restores (sampler position, LR-schedule position, RNG seeds, extra). The checkpoint may have been
    /// saved at another world size: each rank reads only the slices of the old shards that its new range needs.
    /// </summary>
    /// <param name="path">A checkpoint directory, or a root whose newest committed <c>step-*</c> is loaded.</param>
    /// <param name="adan">The freshly built optimizer over the model's flat parameters.</param>
    /// <param name="collective">The job's collective.</param>
    /// <exception cref="CheckpointException">Not committed, unknown manifest version, a layout that does not fit the model, or
    /// a shard missing, of another size or header: found before anything is read, nothing has been changed. A shard whose
    /// SHA-256 differs from the manifest: found while that shard is read into place, so the parameters and optimizer
    /// state are partly overwritten; loading an intact checkpoint afterwards overwrites all of them. The message names
    /// the file either way.</exception>
    /// <remarks>
    /// Collective: every rank must call. Every rank reads each shard it needs once, front to back, hashing all of it while
    /// copying its slices into place: verifying first would read every byte twice and make a restore half as fast.
    /// </remarks>
    public static CheckpointManifest Load(string path, ShardedAdan adan, ICollective collective)
    {
        ArgumentNullException.ThrowIfNull(adan);
        ArgumentNullException.ThrowIfNull(collective);
        var directory = CheckpointFiles.Resolve(path);
        var manifestPath = Path.Combine(directory, CheckpointManifest.FileName);
        var manifest = CheckpointManifest.Read(directory);
        var oldLayout = manifest.ReadLayout(manifestPath);
        var layout = adan.Flat.Layout;
        CheckCompatible(manifest, oldLayout, adan, manifestPath);

        var paramStart = layout.ShardStart(collective.Rank);
        var paramPieces = Pieces(layout, oldLayout, paramStart, layout.ShardSize);
        var statePieces = adan.StateStart == paramStart && adan.StateLength == layout.ShardSize
            ? paramPieces
            : Pieces(layout, oldLayout, adan.StateStart, adan.StateLength);
        var needed = paramPieces.Concat(statePieces).Select(p => p.Shard).ToHashSet();

        // Every shard's presence, size and header first (cheap); one all-reduce makes every rank refuse together, so
        // no rank is left waiting in a collective, and a checkpoint with a missing or truncated shard changes nothing.
        var problems = new long[manifest.WorldSize];
        var messages = new string?[manifest.WorldSize];
        foreach (var shard in manifest.Shards)
        {
            (var kind, messages[shard.Rank]) = ShardChecks.Check(directory, shard, checksum: false, oldLayout.ShardSize, manifest.Tensors);
            problems[shard.Rank] = (long)kind;
        }
        ThrowIfAnyRankFound(problems, messages, directory, manifest, collective);

        // Then one pass over each shard this rank needs: hash all of it while its slices go into place.
        var readFailure = 0L;
        string? readMessage = null;
        try
        {
            using var own = adan.Flat.Values.narrow(0, paramStart, layout.ShardSize);
            var destinations = ShardedAdan.StateNames.Select(n => (Name: n, Tensor: adan.StateBuffer(n), Pieces: statePieces))
                .Prepend(("param", own, paramPieces)).ToArray();
            foreach (var (name, tensor, pieces) in destinations)
            {
                TensorMemory.RequireContiguousCpu(tensor, torch.ScalarType.Float32, name);
                ZeroUncovered(tensor, pieces);
            }
            // At the same world size each shard is read by its own rank only; otherwise ranks share shards, and the
            // page cache lets the ranks of a node read each from the disk once.
            var direct = manifest.WorldSize == collective.WorldSize && needed.SetEquals([collective.Rank]);
            foreach (var r in needed.Order())
            {
                var shard = manifest.Shards[r];
                var shardPath = Path.Combine(directory, shard.File);
                var (bytes, sha256) = ShardScatter.HashAndScatter(shardPath, Copies(shardPath, r, destinations), direct);
                if (bytes != shard.Bytes || sha256 != shard.Sha256)
                {
                    problems[r] = (long)(bytes != shard.Bytes ? ShardProblem.Size : ShardProblem.Checksum);
                    messages[r] = bytes != shard.Bytes
                        ? $"{shardPath} has {bytes} bytes, the manifest says {shard.Bytes} (changed while being read)."
                        : $"{shardPath} has sha256 {sha256}, the manifest says {shard.Sha256} (altered).";
                }
            }
        }
        catch (Exception e) when (e is IOException or CheckpointException)
        {
            readFailure = 1;
            readMessage = $"rank {collective.Rank} could not read {directory}: {e.Message}";
        }
        collective.SleepingBarrier();
        var failed = collective.AllReduce(readFailure, ReduceOp.Max);
        if (failed > 0)
        {
            throw new CheckpointException(readMessage ?? $"{directory}: another rank could not read its shards; the parameters and optimizer state are partly overwritten.");
        }
        ThrowIfAnyRankFound(problems, messages, directory, manifest, collective);
        using (var own = adan.Flat.Values.narrow(0, paramStart, layout.ShardSize))
        {
            collective.AllGather(own, adan.Flat.Values);
        }
        var groups = manifest.Optimizer.Groups;
        for (var g = 0; g < groups.Length; g++)
        {
            adan.Groups[g].Options.LearningRate = groups[g].LearningRate;
        }
        adan.RestoreProgress(groups.Select(g => g.Step).ToArray(), manifest.Optimizer.HasPreviousGradient, manifest.Optimizer.SkippedSteps);
        return manifest;
    }

    /// <summary>
    /// The pieces of a new-layout range [start, start + length) that hold parameter elements, each mapped to one old
    /// shard: (old shard, element offset in that shard, offset in the range, count). Padding maps to nothing.
    /// </summary>
    internal static List<Piece> Pieces(FlatLayout layout, FlatLayout oldLayout, long start, long length)
    {
        var pieces = new List<Piece>();
        var oldShard = oldLayout.ShardSize;
        for (var i = 0; i < layout.Entries.Count; i++)
        {
            var e = layout.Entries[i];
            var from = Math.Max(e.Offset, start);
            var to = Math.Min(e.End, start + length);
            var old = oldLayout.Entries[i].Offset + (from - e.Offset);
            for (var at = from; at < to;)
            {
                var shard = (int)(old / oldShard);
                var count = Math.Min(to - at, (shard + 1) * oldShard - old);
                pieces.Add(new Piece(shard, old - shard * oldShard, at - start, count));
                at += count;
                old += count;
            }
        }
        return pieces;
    }

    /// <summary>Zeroes what no piece fills (padding must read as zero), without writing the rest twice.</summary>
    private static void ZeroUncovered(torch.Tensor destination, List<Piece> pieces)
    {
        var at = 0L;
        foreach (var p in pieces.OrderBy(p => p.DestinationOffset).Append(new Piece(-1, 0, destination.numel(), 0)))
        {
            if (p.DestinationOffset > at)
            {
                using var gap = destination.narrow(0, at, p.DestinationOffset - at);
                gap.zero_();
            }
            at = Math.Max(at, p.DestinationOffset + p.Count);
        }
    }

    /// <summary>The copies from old shard <paramref name="shard"/> into each destination: its pieces, as file byte ranges.</summary>
    private static List<ShardScatter.Copy> Copies(string path, int shard, (string Name, torch.Tensor Tensor, List<Piece> Pieces)[] destinations)
    {
        using var file = SafetensorsFile.Open(path);
        var copies = new List<ShardScatter.Copy>();
        foreach (var (name, tensor, pieces) in destinations)
        {
            var data = file.DataStart + file.Tensor(name).Begin;
            var memory = TensorMemory.DataPointer(tensor);
            foreach (var p in pieces.Where(p => p.Shard == shard))
            {
                copies.Add(new ShardScatter.Copy(data + p.SourceOffset * sizeof(float), p.Count * sizeof(float), memory + (nint)(p.DestinationOffset * sizeof(float))));
            }
        }
        return copies;
    }

    /// <summary>Agrees on every rank's findings (one all-reduce of problem codes) and throws the same refusal everywhere.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private static void ThrowIfAnyRankFound(long[] problems, string?[] messages, string directory, CheckpointManifest manifest, ICollective collective)
    {
        collective.AllReduce(problems.AsSpan(), ReduceOp.Max);
        for (var r = 0; r < problems.Length; r++)
        {
            if (problems[r] != 0)
            {
                throw new CheckpointException(messages[r]
                    ?? ShardChecks.Describe((ShardProblem)problems[r], Path.Combine(directory, manifest.Shards[r].File)) + " (found by another rank)");
            }
        }
    }

    private static void CheckCompatible(CheckpointManifest manifest, FlatLayout oldLayout, ShardedAdan adan, string manifestPath)
    {
        if (adan.Flat.Layout.DescribeDifference(oldLayout) is { } difference)
        {
            throw new CheckpointException($"{manifestPath}: the checkpoint does not match the model: {difference.Replace(" vs ", " (model) vs ", StringComparison.Ordinal)} (checkpoint).");
        }
        if (oldLayout.WorldSize != manifest.WorldSize || manifest.Shards.Length != manifest.WorldSize
            || manifest.Shards.Where((s, r) => s.Rank != r || s.File != CheckpointFiles.ShardFileName(r, manifest.WorldSize)).Any())
        {
            throw new CheckpointException(
                $"{manifestPath}: world size {manifest.WorldSize}, layout for {oldLayout.WorldSize} ranks and {manifest.Shards.Length} shards do not agree.");
        }
        if (!ShardedAdan.StateNames.Prepend("param").All(manifest.Tensors.Contains))
        {
            throw new CheckpointException($"{manifestPath}: shards hold [{string.Join(", ", manifest.Tensors)}], expected param and {string.Join(", ", ShardedAdan.StateNames)}.");
        }
        var groups = manifest.Optimizer.Groups;
        if (groups.Length != adan.Groups.Count
            || groups.Where((g, i) => !g.Parameters.AsSpan().SequenceEqual(adan.Groups[i].ParameterIndices.ToArray())).Any())
        {
            throw new CheckpointException(
                $"{manifestPath}: the checkpoint has {groups.Length} parameter group(s) [{string.Join("; ", groups.Select(g => string.Join(",", g.Parameters)))}], " +
                $"the optimizer {adan.Groups.Count} [{string.Join("; ", adan.Groups.Select(g => string.Join(",", g.ParameterIndices)))}].");
        }
        if (manifest.Optimizer.HasPreviousGradient.Length != oldLayout.Entries.Count)
        {
            throw new CheckpointException(
                $"{manifestPath}: has_previous_gradient has {manifest.Optimizer.HasPreviousGradient.Length} entries for {oldLayout.Entries.Count} parameters.");
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

    private static CheckpointShard WriteShard(string directory, ShardedAdan adan, int rank, int worldSize, long step)
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
        var crashAfter = Environment.GetEnvironmentVariable(FaultRankVariable) == rank.ToString(CultureInfo.InvariantCulture) ? total / 2 : -1;
        (long Bytes, string Sha256) written;
        using (var writer = new HashingFileWriter(Path.Combine(directory, fileName), crashAfter))
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

    /// <summary>A run of elements of one old shard that lands at one place of the new range.</summary>
    internal readonly record struct Piece(int Shard, long SourceOffset, long DestinationOffset, long Count);
}
