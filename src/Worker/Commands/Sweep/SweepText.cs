using System.Globalization;
using Adan.Sharded.Training.Progress;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>The words the plain and the live sweep displays share.</summary>
internal static class SweepText
{
    /// <summary>What a run is about to do, and where when the sweep runs several at once.</summary>
    public static string Started(PlannedRun run, LaunchSlice slice) =>
        string.Create(CultureInfo.InvariantCulture,
            $"started: micro_batch {run.Decomposition.MicroBatch} × accumulation {run.Decomposition.Accumulation} × {run.WorldSize} rank(s), {run.Steps} steps, warm-up {run.WarmupSteps}, peak lr {ProgressFormat.LearningRate(run.PeakLr)}{(slice.Describe(run) is { } where ? $" on {where}" : "")}");

    /// <summary>A run's progress.</summary>
    public static string Step(StepMetrics step) =>
        string.Create(CultureInfo.InvariantCulture, $"epoch {step.Epoch} step {step.Step}/{step.TotalSteps} loss {step.Loss:F4}");

    /// <summary>A run's progress and the sweep's time left.</summary>
    public static string Progress(StepMetrics step, TimeSpan? eta) => $"{Step(step)} sweep eta {ProgressFormat.Duration(eta)}";
}
