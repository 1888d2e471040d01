namespace Adan.Sharded.Training;

/// <summary>
/// Local sums of a classification evaluation; all-reduce the three fields across ranks, then
/// read <see cref="Accuracy"/> and <see cref="MeanLoss"/>.
/// </summary>
/// <param name="Correct">Samples whose arg-max logit is the label.</param>
/// <param name="Samples">Samples evaluated.</param>
/// <param name="LossSum">Sum of the per-sample cross-entropy.</param>
internal readonly record struct ClassificationMetrics(long Correct, long Samples, double LossSum)
{
    /// <summary>Correct / samples (NaN when no samples).</summary>
    public double Accuracy => Samples == 0 ? double.NaN : (double)Correct / Samples;

    /// <summary>Mean cross-entropy (NaN when no samples).</summary>
    public double MeanLoss => Samples == 0 ? double.NaN : LossSum / Samples;

    /// <summary>The element-wise sum, as an all-reduce would give.</summary>
    public static ClassificationMetrics operator +(ClassificationMetrics a, ClassificationMetrics b) =>
        new(a.Correct + b.Correct, a.Samples + b.Samples, a.LossSum + b.LossSum);
}
