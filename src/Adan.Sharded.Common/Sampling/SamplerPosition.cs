namespace Adan.Sharded.Sampling;

/// <summary>Where a sampler stands: the next batch to hand out is batch <paramref name="Batch"/> of epoch <paramref name="Epoch"/>.</summary>
public readonly record struct SamplerPosition(long Epoch, long Batch);
