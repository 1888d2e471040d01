namespace Adan.Sharded.Statistics;

/// <summary>
/// The unbiased estimators of McCandlish et al. 2018 ("An Empirical Model of Large-Batch Training", appendix A),
/// extended to batches drawn without replacement from a finite training set.
/// </summary>
/// <remarks>
/// A batch of n samples drawn without replacement from N has E‖g_n‖² = |G|² + tr Σ · f(n)/n, with Σ the per-sample
/// gradient covariance with divisor N and f(n) = (N − n)/(N − 1) (f ≡ 1 for a stream). Two batch sizes b &lt; B give two
/// equations; with a = f(b)/b and c = f(B)/B: tr Σ = (E ℓ − E γ)/(a − c) and |G|² = (a·E γ − c·E ℓ)/(a − c), which with
/// f ≡ 1 are McCandlish's A.1–A.2.
/// </remarks>
public static class NoiseScaleFormulas
{
    /// <summary>The finite-population factor f(n) = (N − n)/(N − 1); 1 when <paramref name="populationSize"/> is null (a stream).</summary>
    public static double FinitePopulation(long batchSize, long? populationSize) =>
        populationSize is { } n ? (double)(n - batchSize) / (n - 1) : 1.0;

    /// <summary>One step's unbiased estimates of tr Σ and |G|² from the small- and big-batch squared norms.</summary>
    /// <param name="smallSquaredNorm">ℓ: the squared norm of a small-batch gradient (or the mean over ranks of such).</param>
    /// <param name="bigSquaredNorm">γ: the squared norm of the big-batch gradient.</param>
    /// <param name="smallBatch">b, samples in a small batch.</param>
    /// <param name="bigBatch">B, samples in the big batch (B &gt; b).</param>
    /// <param name="populationSize">N, the training-set size; null for a stream (no finite-population factor).</param>
    public static (double TraceSigma, double GradSqNorm) Estimate(double smallSquaredNorm, double bigSquaredNorm, long smallBatch, long bigBatch,
        long? populationSize)
    {
        var a = FinitePopulation(smallBatch, populationSize) / smallBatch;
        var c = FinitePopulation(bigBatch, populationSize) / bigBatch;
        return ((smallSquaredNorm - bigSquaredNorm) / (a - c), (a * bigSquaredNorm - c * smallSquaredNorm) / (a - c));
    }

    /// <summary>The two-sided 95 % quantile of Student's t with <paramref name="degreesOfFreedom"/> degrees of freedom.</summary>
    public static double StudentT975(int degreesOfFreedom)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(degreesOfFreedom, 1);
        if (degreesOfFreedom <= s_t975.Length)
        {
            return s_t975[degreesOfFreedom - 1];
        }
        // Cornish–Fisher's first two terms: within 1e-3 of the exact quantile above 30 degrees of freedom.
        const double z = 1.959963984540054;
        return z + (z * z * z + z) / (4.0 * degreesOfFreedom);
    }

    private static readonly double[] s_t975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
}
