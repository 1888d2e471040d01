using System.Text.Json.Serialization;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// One logged optimizer step as a line of <c>metrics.jsonl</c> (<see cref="MetricsLog"/>), <c>"kind": "step"</c>.
/// A later measurement (the gradient noise scale of issue 25) joins as an optional init property: null is left out of
/// the line, so readers of older files and of runs that do not measure it see no key rather than a made-up value.
/// </summary>
/// <param name="Step">Optimizer steps done, 1-based, over every run the training continues.</param>
/// <param name="Epoch">The epoch of the step, 1-based.</param>
/// <param name="TotalSteps">Optimizer steps the run will take.</param>
/// <param name="SamplesSeen">Training samples over all ranks after the step, over every run the training continues.</param>
/// <param name="Loss">The step's training loss, the mean over ranks.</param>
/// <param name="Lr">The step's learning rate.</param>
/// <param name="GradNorm">The global gradient norm before clipping; null when the step was skipped (not finite).</param>
/// <param name="SamplesPerSecond">Global training throughput of this run so far.</param>
/// <param name="SkippedSteps">Steps skipped so far because the gradients were not finite.</param>
internal sealed record StepMetrics(long Step, int Epoch, long TotalSteps, long SamplesSeen, double Loss, double Lr, double? GradNorm,
    double SamplesPerSecond, long SkippedSteps)
{
    /// <summary>The gradient noise scale's small batch b in samples; null when not measured.</summary>
    public long? BSmall { get; init; }

    /// <summary>The gradient noise scale's big batch B in samples; null when not measured.</summary>
    public long? BBig { get; init; }

    /// <summary>Moving (debiased) estimate of tr Σ, the per-sample gradient covariance's trace; null when not measured.</summary>
    public double? TraceSigma { get; init; }

    /// <summary>Moving (debiased) estimate of |G|², the true gradient's squared norm; null when not measured.</summary>
    public double? GradSqNorm { get; init; }

    /// <summary>Moving estimate of B_simple = tr Σ / |G|²; null when not measured or not yet positive.</summary>
    public double? BSimple { get; init; }

    /// <summary>The record's kind, <c>step</c>.</summary>
    [JsonPropertyOrder(-1)]
    public string Kind => MetricsLog.StepKind;
}
