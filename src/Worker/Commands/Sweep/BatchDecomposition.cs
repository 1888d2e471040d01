namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// How a global batch is reached on W ranks: <c>global = W × MicroBatch × Accumulation</c>, with the largest micro-batch
/// that fits the memory limit, so that a batch is accumulated only when it must be.
/// </summary>
/// <param name="MicroBatch">Samples per rank per forward/backward (the trainer's <c>micro_batch</c>).</param>
/// <param name="Accumulation">Micro-batches per optimizer step (the trainer's <c>accumulation</c>).</param>
internal readonly record struct BatchDecomposition(int MicroBatch, int Accumulation)
{
    /// <summary>The most micro-batches the trainer accumulates per step (its <c>accumulation</c> range).</summary>
    public const int MaxAccumulation = 4_096;

    /// <summary>
    /// Splits <paramref name="globalBatch"/> over <paramref name="worldSize"/> ranks with the largest micro-batch
    /// ≤ <paramref name="maxMicroBatch"/> that divides the per-rank share.
    /// </summary>
    /// <exception cref="UsageException">
    /// The batch is not a multiple of the ranks, or needs more than <see cref="MaxAccumulation"/> micro-batches; the
    /// message names the batch and the ranks.
    /// </exception>
    public static BatchDecomposition Of(int globalBatch, int worldSize, int maxMicroBatch)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(globalBatch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(worldSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMicroBatch);
        if (globalBatch % worldSize != 0)
        {
            throw new UsageException($"--batch-sizes {globalBatch}: not reachable with -n {worldSize} ranks (the batch must be a multiple of the ranks)");
        }
        var perRank = globalBatch / worldSize;
        for (var micro = Math.Min(perRank, maxMicroBatch); micro >= 1; micro--)
        {
            if (perRank % micro == 0 && perRank / micro <= MaxAccumulation)
            {
                return new BatchDecomposition(micro, perRank / micro);
            }
        }
        throw new UsageException(
            $"--batch-sizes {globalBatch}: not reachable with -n {worldSize} ranks and --max-micro-batch {maxMicroBatch} (it needs more than {MaxAccumulation} accumulated micro-batches)");
    }
}
