using Adan.Sharded.Schedules;
using Adan.Worker.Commands.Sweep;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Sweep;

/// <summary>The report's learning-rate section from a hand-made search: the chosen rates, stage 1's table, the grid-edge warning and α.</summary>
public class LearningRateReportTests
{
    [Fact]
    public void TheSectionTablesTheChosenRatesStageOneAndWarnsAtTheGridsEdge()
    {
        var settings = new SweepSettings([256, 1024], ["adan"], LearningRateScaling.Sqrt, 1, 1, 256, 1) { LrGrid = [0.5, 1, 2], Finalists = 1, ValSplit = 100 };
        RunResult Run(int batch, double multiplier, double accuracy) => new()
        {
            Batch = batch, Optimizer = "adan", Status = RunStatus.Finished, WorldSize = 1, MicroBatch = 256, Accumulation = batch / 256, Steps = 10,
            Epochs = 1, WarmupSteps = 1, PeakLr = 0.003 * Math.Sqrt(batch / 256.0) * multiplier, ValAccuracy = accuracy, Seed = 42, LrMultiplier = multiplier,
            Config = "{}", Overrides = [],
        };
        var results = new[] { Run(256, 0.5, 0.80), Run(256, 1, 0.85), Run(256, 2, 0.82), Run(1024, 0.5, 0.70), Run(1024, 1, 0.75), Run(1024, 2, 0.78) };
        var outcome = new SearchOutcome(results, new Dictionary<(int, string), double> { [(256, "adan")] = 1, [(1024, "adan")] = 2 },
            new Dictionary<(int, string), IReadOnlyList<double>> { [(256, "adan")] = [1], [(1024, "adan")] = [2] });

        var text = LearningRateReport.Markdown(settings, outcome);
        Assert.Contains("| 256 | ×1 (0.003) |", text);
        Assert.Contains("| 1024 | ×2 (0.012) |", text);
        Assert.Contains("| 256 | adan | 80.00 | 85.00* | 82.00 |", text);
        Assert.Contains("At the grid's edge, where the best learning rate may lie beyond it (widen --lr-grid to know): 1024-adan (×2).", text);
        // 0.003 → 0.012 over 4×: α = 1 from two points, a hint only.
        Assert.Contains("- adan: α = 1.00, nearer linear scaling", text);
        Assert.Empty(LearningRateReport.Markdown(settings with { LrGrid = null }, outcome));
    }

    [Fact]
    public void InTargetModeStageOneTablesStepsToTheTargetWithCensoredRunsNamed()
    {
        // Runs stopped at the target all end near it on validation: the choice, and the table, is steps to it.
        var settings = new SweepSettings([256], ["adan"], LearningRateScaling.Sqrt, 1, 1, 256, 1)
        {
            LrGrid = [0.5, 1, 2], Finalists = 1, ValSplit = 100, EvalEverySamples = 256, Target = MetricTarget.Parse("val_accuracy=0.85"), StopAtTarget = true,
        };
        RunResult Run(double multiplier, double? steps) => new()
        {
            Batch = 256, Optimizer = "adan", Status = RunStatus.Finished, WorldSize = 1, MicroBatch = 256, Accumulation = 1, Steps = 10, Epochs = 1,
            WarmupSteps = 1, PeakLr = 0.003 * multiplier, ValAccuracy = steps is null ? 0.80 : 0.851, Seed = 42, LrMultiplier = multiplier,
            TargetReached = steps is not null, TargetStep = steps, Config = "{}", Overrides = [],
        };
        var outcome = new SearchOutcome([Run(0.5, null), Run(1, 412.6), Run(2, 388)], new Dictionary<(int, string), double> { [(256, "adan")] = 2 },
            new Dictionary<(int, string), IReadOnlyList<double>> { [(256, "adan")] = [2] });

        var text = LearningRateReport.Markdown(settings, outcome);
        Assert.Contains("### Stage 1: steps to val_accuracy=0.85 of the first seed at each multiplier (* finalist)", text);
        Assert.Contains("| 256 | adan | censored | 413 | 388* |", text);
    }
}
