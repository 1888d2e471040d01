using System.Text.Json.Serialization;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// One committed checkpoint as a line of <c>metrics.jsonl</c> (<see cref="MetricsLog"/>), <c>"kind": "checkpoint"</c>:
/// what a save of this run measured, which <c>adan launch</c> sizes its default <c>--preempt-grace</c> from.
/// </summary>
/// <param name="Step">The step the checkpoint holds.</param>
/// <param name="Bytes">Its size over all shards.</param>
/// <param name="Seconds">From the save's start to its commit.</param>
/// <param name="PauseSeconds">How long training stood still for it.</param>
internal sealed record CheckpointMetrics(long Step, long Bytes, double Seconds, double PauseSeconds)
{
    /// <summary>The record's kind, <c>checkpoint</c>.</summary>
    [JsonPropertyOrder(-1)]
    public string Kind => MetricsLog.CheckpointKind;
}
