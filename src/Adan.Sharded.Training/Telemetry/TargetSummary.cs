using System.Text.Json.Serialization;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// <c>summary.json</c>'s <c>target</c>: whether and when the run's validation metric first reached its
/// <c>target</c>, interpolated between the evaluations around the crossing, or censored (not reached before the run
/// ended: the step and samples are then those of the last evaluation, a lower bound).
/// </summary>
/// <param name="Metric">The validation metric (<c>val_accuracy</c>, <c>val_loss</c>).</param>
/// <param name="Value">The threshold.</param>
/// <param name="Reached">Whether the run reached it.</param>
/// <param name="Censored">The opposite of <paramref name="Reached"/>, spelled out for tables.</param>
/// <param name="Step">The interpolated step of reaching it, or the last evaluated step when censored.</param>
/// <param name="Samples">The interpolated training samples of reaching it, or those of the last evaluation when censored.</param>
/// <param name="StoppedAtTarget">Whether <c>stop_at_target</c> ended the run there.</param>
internal sealed record TargetSummary(
    [property: JsonPropertyName("metric")] string Metric,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("reached")] bool Reached,
    [property: JsonPropertyName("censored")] bool Censored,
    [property: JsonPropertyName("step")] double? Step,
    [property: JsonPropertyName("samples")] double? Samples,
    [property: JsonPropertyName("stopped_at_target")] bool StoppedAtTarget);
