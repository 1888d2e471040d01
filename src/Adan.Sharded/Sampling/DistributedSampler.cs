namespace Adan.Sharded.Sampling;

/// <summary>
/// Rank-sharded sampling: every epoch draws one seeded permutation of the dataset (the same on
/// every rank) and rank r takes every W-th index starting at r, so the ranks' samples are disjoint
/// and together cover the epoch. Every rank gets the same number of batches.
/// </summary>
/// <remarks>
/// The permutation comes from a SplitMix64-seeded Fisher–Yates shuffle of (seed, epoch), so it
/// does not depend on torch's generator and is identical across processes, platforms and resumes.
/// </remarks>
public sealed class DistributedSampler
{
    private readonly long[] _permutation;
    private readonly long[] _batch;
    private long _preparedEpoch = -1;

    /// <summary>Creates the sampler for one rank.</summary>
    public DistributedSampler(long datasetSize, int rank, int worldSize, int batchSize, ulong seed,
        TailPolicy tail = TailPolicy.Drop, bool shuffle = true)
    {
        if (datasetSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(datasetSize), datasetSize, "the dataset is empty; a sampler needs at least one sample.");
        }
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {worldSize}) for world size {worldSize}.");
        }
        if (batchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be ≥ 1.");
        }
        DatasetSize = datasetSize;
        Rank = rank;
        WorldSize = worldSize;
        BatchSize = batchSize;
        Seed = seed;
        Tail = tail;
        Shuffle = shuffle;
        SamplesPerRank = tail == TailPolicy.Drop ? datasetSize / worldSize : (datasetSize + worldSize - 1) / worldSize;
        BatchesPerEpoch = tail == TailPolicy.Drop ? SamplesPerRank / batchSize : (SamplesPerRank + batchSize - 1) / batchSize;
        if (BatchesPerEpoch == 0)
        {
            throw new ArgumentException(
                $"{datasetSize} samples over {worldSize} ranks give no whole batch of {batchSize}; lower the batch size or use TailPolicy.Pad.");
        }
        _permutation = new long[datasetSize];
        _batch = new long[batchSize];
    }

    /// <summary>Samples in the dataset.</summary>
    public long DatasetSize { get; }

    /// <summary>This sampler's rank.</summary>
    public int Rank { get; }

    /// <summary>The number of ranks.</summary>
    public int WorldSize { get; }

    /// <summary>Samples per batch on this rank.</summary>
    public int BatchSize { get; }

    /// <summary>Samples per batch over all ranks (<see cref="WorldSize"/> × <see cref="BatchSize"/>).</summary>
    public long GlobalBatch => (long)WorldSize * BatchSize;

    /// <summary>The base seed of the permutations.</summary>
    public ulong Seed { get; }

    /// <summary>How uneven tails are handled.</summary>
    public TailPolicy Tail { get; }

    /// <summary>Whether epochs are shuffled (otherwise the order is 0..N-1).</summary>
    public bool Shuffle { get; }

    /// <summary>Samples each rank sees per epoch.</summary>
    public long SamplesPerRank { get; }

    /// <summary>Batches each rank takes per epoch (the same on all ranks).</summary>
    public long BatchesPerEpoch { get; }

    /// <summary>The next batch to hand out.</summary>
    public SamplerPosition Position { get; private set; }

    /// <summary>Moves to a saved position (e.g. on resume).</summary>
    public void Restore(SamplerPosition position)
    {
        if (position.Epoch < 0 || position.Batch < 0 || position.Batch > BatchesPerEpoch)
        {
            throw new ArgumentOutOfRangeException(nameof(position), position,
                $"position must have epoch ≥ 0 and batch in [0, {BatchesPerEpoch}] for this sampler.");
        }
        Position = position.Batch == BatchesPerEpoch ? new SamplerPosition(position.Epoch + 1, 0) : position;
    }

    /// <summary>
    /// The indices of the next batch (a buffer reused by the next call) and the position it came
    /// from; advances the position, rolling over to the next epoch.
    /// </summary>
    public ReadOnlySpan<long> Next(out SamplerPosition position)
    {
        position = Position;
        var batch = BatchIndices(position.Epoch, position.Batch);
        Position = position.Batch + 1 == BatchesPerEpoch
            ? new SamplerPosition(position.Epoch + 1, 0)
            : position with { Batch = position.Batch + 1 };
        return batch;
    }

    /// <summary>The indices of batch <paramref name="batch"/> of <paramref name="epoch"/> on this rank (reused buffer).</summary>
    public ReadOnlySpan<long> BatchIndices(long epoch, long batch)
    {
        if (batch < 0 || batch >= BatchesPerEpoch)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch must be in [0, {BatchesPerEpoch}).");
        }
        Prepare(epoch);
        var first = batch * BatchSize;
        var count = (int)Math.Min(BatchSize, SamplesPerRank - first);
        for (var i = 0; i < count; i++)
        {
            var global = (first + i) * WorldSize + Rank;
            _batch[i] = _permutation[global % DatasetSize];
        }
        return _batch.AsSpan(0, count);
    }

    private void Prepare(long epoch)
    {
        if (epoch == _preparedEpoch)
        {
            return;
        }
        for (long i = 0; i < DatasetSize; i++)
        {
            _permutation[i] = i;
        }
        if (Shuffle)
        {
            var state = Seed ^ (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1));
            for (var i = DatasetSize - 1; i > 0; i--)
            {
                var j = (long)(NextRandom(ref state) % (ulong)(i + 1));
                (_permutation[i], _permutation[j]) = (_permutation[j], _permutation[i]);
            }
        }
        _preparedEpoch = epoch;
    }

    private static ulong NextRandom(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
