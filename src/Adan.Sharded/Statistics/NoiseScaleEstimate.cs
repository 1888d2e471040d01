using System.Text.Json.Serialization;

namespace Adan.Sharded.Statistics;

/// <summary>
/// The gradient noise scale over a run or an epoch: B_simple = tr Σ / |G|² as the ratio of the two means over the steps,
/// with a 95 % interval from batch means over windows and Fieller's method for a ratio of means. Every estimate is null, with
/// <see cref="Reason"/> saying why, when it cannot be given unbiased.
/// </summary>
/// <param name="SmallBatch">b, samples in a small batch.</param>
/// <param name="BigBatch">B, samples in the big batch.</param>
/// <param name="FinitePopulation">Whether the finite-population factor was applied (the training-set size was known).</param>
/// <param name="Steps">Steps measured.</param>
/// <param name="Windows">Complete windows the interval and standard errors come from.</param>
/// <param name="TraceSigma">Mean of the per-step estimates of tr Σ.</param>
/// <param name="TraceSigmaStandardError">Standard error of <see cref="TraceSigma"/> from the window means (null under 2 windows).</param>
/// <param name="GradSqNorm">Mean of the per-step estimates of |G|².</param>
/// <param name="GradSqNormStandardError">Standard error of <see cref="GradSqNorm"/> from the window means (null under 2 windows).</param>
/// <param name="BSimple">B_simple = <see cref="TraceSigma"/> / <see cref="GradSqNorm"/>; null when |G|² ≤ 0 or tr Σ ≤ 0.</param>
/// <param name="BSimpleCi95">
/// [lo, hi] 95 % interval of <see cref="BSimple"/>, lo ≥ 0; hi is +∞ when |G|² is not distinguishable from 0 over the
/// windows (B_simple is then not bounded above by the data); null under 2 windows.
/// </param>
/// <param name="Reason">Why <see cref="BSimple"/> is null; null when it is given.</param>
public sealed record NoiseScaleEstimate(
    [property: JsonPropertyName("b_small")] long SmallBatch,
    [property: JsonPropertyName("b_big")] long BigBatch,
    [property: JsonPropertyName("finite_population")] bool FinitePopulation,
    [property: JsonPropertyName("steps")] long Steps,
    [property: JsonPropertyName("windows")] long Windows,
    [property: JsonPropertyName("trace_sigma")] double? TraceSigma,
    [property: JsonPropertyName("trace_sigma_se")] double? TraceSigmaStandardError,
    [property: JsonPropertyName("grad_sq_norm")] double? GradSqNorm,
    [property: JsonPropertyName("grad_sq_norm_se")] double? GradSqNormStandardError,
    [property: JsonPropertyName("b_simple")] double? BSimple,
    [property: JsonPropertyName("b_simple_ci95")] double[]? BSimpleCi95,
    [property: JsonPropertyName("reason")] string? Reason);
