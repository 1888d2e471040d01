namespace Adan.Sharded.Zero;

/// <summary>
/// One step's inputs to the gradient noise scale (<see cref="Statistics.GradientNoiseScale.Add"/>), with the batch sizes
/// counted in micro-batches: b = <paramref name="SmallMicroBatches"/> × micro-batch samples, B =
/// <paramref name="BigMicroBatches"/> × micro-batch samples.
/// </summary>
/// <param name="SmallSquaredNorm">ℓ: the mean over ranks of the squared norm of a rank's own (small-batch) gradient, before reduction and clipping.</param>
/// <param name="BigSquaredNorm">γ: the squared norm of the averaged (big-batch) gradient, before clipping.</param>
/// <param name="SmallMicroBatches">Micro-batches in a small batch: the accumulation k with W ≥ 2 ranks, 1 with one rank.</param>
/// <param name="BigMicroBatches">Micro-batches in the big batch: W·k.</param>
public readonly record struct NoiseSample(double SmallSquaredNorm, double BigSquaredNorm, int SmallMicroBatches, int BigMicroBatches);
