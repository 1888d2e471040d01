using System.Text.Json.Serialization;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>One evaluation as a line of <c>metrics.jsonl</c> (<see cref="MetricsLog"/>), <c>"kind": "eval"</c>.</summary>
/// <param name="Step">The optimizer step evaluated after.</param>
/// <param name="SamplesSeen">Training samples over all ranks by then.</param>
/// <param name="Loss">The mean loss on <see cref="Split"/> (for the language model the corpus's validation part, as "test").</param>
/// <param name="Accuracy">The accuracy in [0, 1]; null for a task without one (the language model).</param>
/// <param name="Perplexity">exp of <paramref name="Loss"/> for a language model; null for a classifier.</param>
internal sealed record EvalMetrics(long Step, long SamplesSeen, double Loss, double? Accuracy, double? Perplexity)
{
    /// <summary>The data scored: <c>val</c> (the held-out split of <c>val_split</c>) or <c>test</c>.</summary>
    public string Split { get; init; } = TestSplit;

    /// <summary>The value of <see cref="Split"/> for the test set.</summary>
    public const string TestSplit = "test";

    /// <summary>The value of <see cref="Split"/> for the validation split.</summary>
    public const string ValidationSplit = "val";

    /// <summary>The record's kind, <c>eval</c>.</summary>
    [JsonPropertyOrder(-1)]
    public string Kind => MetricsLog.EvalKind;
}
