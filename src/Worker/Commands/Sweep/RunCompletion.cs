using System.Globalization;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// How an ended launch becomes its run's result, the same whether it ran here (<see cref="SweepExecutor"/>) or as a
/// Slurm array task (<see cref="Slurm.SlurmSweepExecutor"/>): finished only with exit code 0 and the run's own
/// <c>summary.json</c>, whose numbers it then carries; otherwise failed with the launch's last stderr lines.
/// </summary>
internal static class RunCompletion
{
    /// <summary>The result of <paramref name="run"/> from <paramref name="outcome"/> and the files in <paramref name="directory"/>.</summary>
    public static RunResult Result(PlannedRun run, RunOutcome outcome, string directory)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(outcome);
        var summaryPath = Path.Combine(directory, RunSummaryWriter.FileName);
        var planned = RunResult.Planned(run, RunStatus.Failed) with { Curve = outcome.Curve };
        if (outcome.Interrupted)
        {
            return planned with { Status = RunStatus.Interrupted, Error = "stopped by a signal while it ran" };
        }
        if (outcome.ExitCode != ExitCodes.Success || !File.Exists(summaryPath))
        {
            var error = outcome.StderrTail.Count > 0 ? string.Join('\n', outcome.StderrTail) : $"adan launch exited with code {outcome.ExitCode} and no message";
            return planned with { Error = error };
        }
        var summary = RunSummaryWriter.Read(summaryPath);
        return planned with
        {
            Status = RunStatus.Finished,
            Steps = summary.Steps,
            Epochs = summary.Epochs,
            FinalTrainLoss = summary.FinalLoss,
            TestAccuracy = summary.TestAccuracy,
            TestLoss = summary.TestLoss,
            WallSeconds = summary.WallSeconds,
            SamplesPerSecond = summary.SamplesPerSecond,
            ValAccuracy = summary.ValAccuracy,
            ValLoss = summary.ValLoss,
            TargetReached = summary.Target?.Reached,
            TargetStep = summary.Target?.Step,
            TargetSamples = summary.Target?.Samples,
            NoiseScale = summary.GradientNoise?.Run?.BSimple,
            NoiseScaleCi95 = summary.GradientNoise?.Run?.BSimpleCi95,
        };
    }

    /// <summary>How a run ended, for the progress line.</summary>
    public static string Describe(RunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.Status switch
        {
            RunStatus.Finished => string.Create(CultureInfo.InvariantCulture,
                $"finished: {(result.TestAccuracy is { } accuracy ? $"test accuracy {accuracy * 100:F2} %" : $"test loss {result.TestLoss:F4}")}, {result.WallSeconds:F1} s"),
            RunStatus.Interrupted => "interrupted: the sweep was stopped",
            _ => $"failed: {result.Error?.Split('\n')[^1]}",
        };
    }
}
