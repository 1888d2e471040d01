using System.Text.Json.Serialization;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// <c>summary.json</c>'s <c>preempted</c>: SIGUSR1 or SIGTERM stopped the run after <paramref name="Step"/>, where every
/// rank saved and the checkpoint <paramref name="Checkpoint"/> is committed; the run exited with <c>ExitCodes.Preempted</c>.
/// </summary>
/// <param name="Step">The step every rank stopped after and saved.</param>
/// <param name="Checkpoint">The committed checkpoint's directory.</param>
/// <param name="Resume">How to continue: the same command with this setting added.</param>
internal sealed record PreemptionSummary(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("checkpoint")] string Checkpoint,
    [property: JsonPropertyName("resume")] string Resume);
