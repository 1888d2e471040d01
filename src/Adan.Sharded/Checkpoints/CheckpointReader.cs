using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using TorchSharp;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Loads a checkpoint written by <see cref="CheckpointWriter"/> into a <see cref="ShardedOptimizer"/>, at the world size it
/// was saved with or another one: <see cref="ReshardMap"/> says which slices of which old shards fill this rank's range.
/// </summary>
public sealed class CheckpointReader
{
    private readonly ICollective _collective;
    private readonly HostStaging? _staging;

    /// <summary>Creates a reader for the ranks of <paramref name="collective"/>.</summary>
    /// <param name="collective">The job's collective.</param>
    /// <param name="staging">Host memory the shards are read into before they are copied to the tensors (the run's,
    /// allocated once); null: read straight into tensors in CPU memory, through staging allocated for the load otherwise.</param>
    public CheckpointReader(ICollective collective, HostStaging? staging = null)
    {
        ArgumentNullException.ThrowIfNull(collective);
        _collective = collective;
        _staging = staging;
    }

    /// <summary>
    /// Loads a checkpoint into <paramref name="adan"/> (parameters, the four state buffers, group steps, learning
    /// rates, has-previous-gradient flags, skipped steps) and returns its manifest, whose <see cref="CheckpointManifest.Progress"/>
    /// the trainer restores (sampler position, LR-schedule position, RNG seeds, extra). The checkpoint may have been
    /// saved at another world size: each rank reads only the slices of the old shards that its new range needs.
    /// </summary>
    /// <param name="path">A checkpoint directory, or a root whose newest committed <c>step-*</c> is loaded.</param>
    /// <param name="adan">The freshly built optimizer over the model's flat parameters.</param>
    /// <exception cref="CheckpointException">Not committed, unknown manifest version, a layout that does not fit the model, or
    /// a shard missing, of another size or header: found before anything is read, nothing has been changed. A shard whose
    /// SHA-256 differs from the manifest: found while that shard is read into place, so the parameters and optimizer
    /// state are partly overwritten; loading an intact checkpoint afterwards overwrites all of them. The message names
    /// the file either way.</exception>
    /// <remarks>
    /// Collective: every rank must call. Every rank reads each shard it needs once, front to back, hashing all of it while
    /// copying its slices into place: verifying first would read every byte twice and make a restore half as fast.
    /// </remarks>
    public CheckpointManifest Load(string path, ShardedOptimizer adan)
    {
        ArgumentNullException.ThrowIfNull(adan);
        var directory = CheckpointFiles.Resolve(path);
        var manifestPath = Path.Combine(directory, CheckpointManifest.FileName);
        var manifest = CheckpointManifest.Read(directory);
        var oldLayout = manifest.ReadLayout(manifestPath);
        var layout = adan.Flat.Layout;
        CheckCompatible(manifest, oldLayout, adan, manifestPath);

        var paramStart = layout.ShardStart(_collective.Rank);
        var paramPieces = ReshardMap.Pieces(layout, oldLayout, paramStart, layout.ShardSize);
        var statePieces = adan.StateStart == paramStart && adan.StateLength == layout.ShardSize
            ? paramPieces
            : ReshardMap.Pieces(layout, oldLayout, adan.StateStart, adan.StateLength);
        var needed = paramPieces.Concat(statePieces).Select(p => p.OldShard).ToHashSet();

        // Every shard's presence, size and header first (cheap); one all-reduce makes every rank refuse together, so
        // no rank is left waiting in a collective, and a checkpoint with a missing or truncated shard changes nothing.
        var problems = new long[manifest.WorldSize];
        var messages = new string?[manifest.WorldSize];
        foreach (var shard in manifest.Shards)
        {
            (var kind, messages[shard.Rank]) = ShardChecks.Check(directory, shard, checksum: false, ShardChecks.Expected(manifest, oldLayout, shard.Rank));
            problems[shard.Rank] = (long)kind;
        }
        ThrowIfAnyRankFound(problems, messages, directory, manifest);

        // Then one pass over each shard this rank needs: hash all of it while its slices go into place (into host
        // staging when the tensors are not in CPU memory, copied to them afterwards).
        _staging?.RequireFor(adan);
        using var temporary = _staging is null && HostStaging.IsRequired(adan) ? new HostStaging(adan, _collective.Rank) : null;
        var staging = _staging ?? temporary;
        var readFailure = 0L;
        string? readMessage = null;
        try
        {
            using var own = adan.Flat.Values.narrow(0, paramStart, layout.ShardSize);
            var destinations = adan.StoredState
                .Select(t => (t.Name, Tensor: staging?.State(t.Name) ?? t.Tensor, Pieces: StoredPieces(t.Extent, statePieces, layout, oldLayout, adan)))
                .Prepend(("param", staging?.Parameters ?? own, paramPieces)).ToArray();
            foreach (var (name, tensor, pieces) in destinations)
            {
                TensorMemory.RequireContiguousCpu(tensor, tensor.dtype, name);
                ZeroUncovered(tensor, pieces);
            }
            // At the same world size each shard is read by its own rank only; otherwise ranks share shards, and the
            // page cache lets the ranks of a node read each from the disk once.
            var direct = manifest.WorldSize == _collective.WorldSize && needed.SetEquals([_collective.Rank]);
            foreach (var r in needed.Order())
            {
                var shard = manifest.Shards[r];
                var shardPath = CheckpointFiles.PathInside(directory, shard.File);
                var (bytes, sha256) = ShardScatter.HashAndScatter(shardPath, Copies(shardPath, r, destinations), direct);
                if (bytes != shard.Bytes || sha256 != shard.Sha256)
                {
                    problems[r] = (long)(bytes != shard.Bytes ? ShardProblem.Size : ShardProblem.Checksum);
                    messages[r] = bytes != shard.Bytes
                        ? $"{shardPath} has {bytes} bytes, the manifest says {shard.Bytes} (changed while being read)."
                        : $"{shardPath} has sha256 {sha256}, the manifest says {shard.Sha256} (altered).";
                }
            }
            staging?.CopyToDevice();
        }
        catch (Exception e) when (e is IOException or CheckpointException)
        {
            readFailure = 1;
            readMessage = $"rank {_collective.Rank} could not read {directory}: {e.Message}";
        }
        _collective.SleepingBarrier();
        var failed = _collective.AllReduce(readFailure, ReduceOp.Max);
        if (failed > 0)
        {
            throw new CheckpointException(readMessage ?? $"{directory}: another rank could not read its shards; the parameters and optimizer state are partly overwritten.");
        }
        ThrowIfAnyRankFound(problems, messages, directory, manifest);
        using (var own = adan.Flat.Values.narrow(0, paramStart, layout.ShardSize))
        {
            _collective.AllGather(own, adan.Flat.Values);
        }
        adan.Flat.RefreshCompute();
        var groups = manifest.Optimizer.Groups;
        for (var g = 0; g < groups.Length; g++)
        {
            adan.Groups[g].Options.LearningRate = groups[g].LearningRate;
        }
        adan.RestoreProgress(groups.Select(g => g.Step).ToArray(), manifest.Optimizer.ParameterSteps!, manifest.Optimizer.SkippedSteps);
        return manifest;
    }

    /// <summary>
    /// The pieces of a stored tensor: the state range's element pieces as they are, as blocks for block scales (blocks lie
    /// on the global grid and every piece starts on a block boundary, so the division is exact and a parameter's short
    /// last block travels whole), or re-cut in the small parameters' index space, in which each old shard holds one run.
    /// </summary>
    private static List<ReshardMap.Piece> StoredPieces(StateExtent extent, List<ReshardMap.Piece> elements, FlatLayout layout, FlatLayout oldLayout,
        ShardedOptimizer adan)
    {
        const int block = Optim.StateCodes.BlockSize;
        switch (extent)
        {
            case StateExtent.Element:
                return elements;
            case StateExtent.Block:
                return [.. elements.Select(p => new ReshardMap.Piece(p.OldShard, p.SourceOffset / block, p.DestinationOffset / block, (p.Count + block - 1) / block))];
            default:
                var small = new SmallParameterIndex(layout);
                var oldSmall = new SmallParameterIndex(oldLayout);
                var (from, to) = (small.Before(adan.StateStart), small.Before(adan.StateStart + adan.StateLength));
                var pieces = new List<ReshardMap.Piece>();
                for (var q = 0; q < oldLayout.WorldSize; q++)
                {
                    var (oldFrom, oldTo) = (oldSmall.Before(oldLayout.ShardStart(q)), oldSmall.Before(oldLayout.ShardStart(q) + oldLayout.ShardSize));
                    var (at, end) = (Math.Max(from, oldFrom), Math.Min(to, oldTo));
                    if (end > at)
                    {
                        pieces.Add(new ReshardMap.Piece(q, at - oldFrom, at - from, end - at));
                    }
                }
                return pieces;
        }
    }

    /// <summary>Zeroes what no piece fills (padding must read as zero), without writing the rest twice.</summary>
    private static void ZeroUncovered(torch.Tensor destination, List<ReshardMap.Piece> pieces)
    {
        var at = 0L;
        foreach (var p in pieces.OrderBy(p => p.DestinationOffset).Append(new ReshardMap.Piece(-1, 0, destination.numel(), 0)))
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
    private static List<ShardScatter.Copy> Copies(string path, int shard, (string Name, torch.Tensor Tensor, List<ReshardMap.Piece> Pieces)[] destinations)
    {
        using var file = SafetensorsFile.Open(path);
        var copies = new List<ShardScatter.Copy>();
        foreach (var (name, tensor, pieces) in destinations)
        {
            var data = file.DataStart + file.Tensor(name).Begin;
            var memory = TensorMemory.DataPointer(tensor);
            var size = tensor.ElementSize;
            foreach (var p in pieces.Where(p => p.OldShard == shard))
            {
                copies.Add(new ShardScatter.Copy(data + p.SourceOffset * size, p.Count * size, memory + (nint)(p.DestinationOffset * size)));
            }
        }
        return copies;
    }

    /// <summary>Agrees on every rank's findings (one all-reduce of problem codes) and throws the same refusal everywhere.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private void ThrowIfAnyRankFound(long[] problems, string?[] messages, string directory, CheckpointManifest manifest)
    {
        _collective.AllReduce(problems.AsSpan(), ReduceOp.Max);
        for (var r = 0; r < problems.Length; r++)
        {
            if (problems[r] != 0)
            {
                throw new CheckpointException(messages[r]
                    ?? ShardChecks.Describe((ShardProblem)problems[r], Path.Combine(directory, manifest.Shards[r].File)) + " (found by another rank)");
            }
        }
    }

    private static void CheckCompatible(CheckpointManifest manifest, FlatLayout oldLayout, ShardedOptimizer adan, string manifestPath)
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
        if (manifest.Optimizer.Name != adan.Name)
        {
            throw new CheckpointException(
                $"{manifestPath}: the checkpoint holds {manifest.Optimizer.Name} state and this run's optimizer is {adan.Name}; resume with optimizer={manifest.Optimizer.Name}, or start without resuming.");
        }
        var savedMode = manifest.Optimizer.StateMode ?? OptimizerStateMode.Fp32.Name();
        if (savedMode != adan.StateMode.Name())
        {
            throw new CheckpointException(
                $"{manifestPath}: the checkpoint holds optimizer_state={savedMode} and this run has optimizer_state={adan.StateMode.Name()}; " +
                $"resume with optimizer_state={savedMode}, or start without resuming.");
        }
        var stateNames = manifest.Optimizer.State!.Select(t => t.Name).ToArray();
        var storedNames = adan.StoredState.Select(t => t.Name).ToArray();
        if (!stateNames.Order().SequenceEqual(storedNames.Order()) || !storedNames.Prepend("param").All(manifest.Tensors.Contains)
            || manifest.Optimizer.State!.Any(t => t.Dtype != adan.StoredState.First(s => s.Name == t.Name).DType))
        {
            throw new CheckpointException(
                $"{manifestPath}: shards hold [{string.Join(", ", manifest.Tensors)}] with state [{string.Join(", ", manifest.Optimizer.State!.Select(t => $"{t.Name} {t.Dtype}"))}], " +
                $"expected param and {string.Join(", ", adan.StoredState.Select(t => $"{t.Name} {t.DType}"))}.");
        }
        var groups = manifest.Optimizer.Groups;
        if (groups.Length != adan.Groups.Count
            || groups.Where((g, i) => !g.Parameters.AsSpan().SequenceEqual(adan.Groups[i].ParameterIndices.ToArray())).Any())
        {
            throw new CheckpointException(
                $"{manifestPath}: the checkpoint has {groups.Length} parameter group(s) [{string.Join("; ", groups.Select(g => string.Join(",", g.Parameters)))}], " +
                $"the optimizer {adan.Groups.Count} [{string.Join("; ", adan.Groups.Select(g => string.Join(",", g.ParameterIndices)))}].");
        }
        if (manifest.Optimizer.ParameterSteps!.Length != oldLayout.Entries.Count)
        {
            throw new CheckpointException(
                $"{manifestPath}: parameter_steps has {manifest.Optimizer.ParameterSteps.Length} entries for {oldLayout.Entries.Count} parameters.");
        }
    }
}
