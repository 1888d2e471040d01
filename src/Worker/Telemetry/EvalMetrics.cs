using System.Text.Json.Serialization;

namespace Adan.Worker.Telemetry;

/// <summary>One evaluation as a line of <c>metrics.jsonl</c> (<see cref="MetricsLog"/>), <c>"kind": "eval"</c>.</summary>
/// <param name="Step">The optimizer step evaluated after.</param>
/// <param name="SamplesSeen">Training samples over all ranks by then.</param>
/// <param name="Loss">The mean test (classification) or validation (language model) loss.</param>
/// <param name="Accuracy">The test accuracy in [0, 1]; null for a task without one (the language model).</param>
/// <param name="Perplexity">exp of <paramref name="Loss"/> for a language model; null for a classifier.</param>
public sealed record EvalMetrics(long Step, long SamplesSeen, double Loss, double? Accuracy, double? Perplexity)
{
    /// <summary>The record's kind, <c>eval</c>.</summary>
    [JsonPropertyOrder(-1)]
    public string Kind => MetricsLog.EvalKind;
}
