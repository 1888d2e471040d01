using System.Text.Json.Serialization;
using Adan.Sharded.Statistics;

namespace Adan.Sharded.Training.Telemetry;

/// <summary><c>summary.json</c>'s <c>gradient_noise</c>: the whole run's estimate, each epoch's, or why there is none.</summary>
/// <param name="Run">The estimate over every measured step; null when nothing was measured.</param>
/// <param name="Epochs">One estimate per epoch the run measured, in order.</param>
/// <param name="Reason">Why the run gives no estimate (its own reason, or the estimate's); null when B_simple is there.</param>
internal sealed record GradientNoiseSummary(
    [property: JsonPropertyName("run")] NoiseScaleEstimate? Run,
    [property: JsonPropertyName("epochs")] IReadOnlyList<NoiseScaleEstimate> Epochs,
    [property: JsonPropertyName("reason")] string? Reason);
