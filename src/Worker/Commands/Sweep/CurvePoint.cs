using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>One point of a run's training-loss curve, from a step record of the run's <c>metrics.jsonl</c>.</summary>
/// <param name="Samples">Training samples seen by then (<see cref="Adan.Sharded.Training.Telemetry.StepMetrics.SamplesSeen"/>).</param>
/// <param name="Loss">The step's training loss.</param>
internal readonly record struct CurvePoint(long Samples, double Loss)
{
    /// <summary>The loss curve of a run: a point per step record of its <c>metrics.jsonl</c> in <paramref name="runDirectory"/>, in file order.</summary>
    public static IReadOnlyList<CurvePoint> Of(string runDirectory) =>
        [.. MetricsLog.ReadSteps(Path.Combine(runDirectory, MetricsLog.FileName)).Select(step => new CurvePoint(step.SamplesSeen, step.Loss))];
}
