using Adan.Sharded.Schedules;
using Adan.Worker.Commands.Sweep;

namespace Adan.Worker.Tests.Sweep;

/// <summary>The report's wording and the CSV, from hand-made results.</summary>
public class SweepOutputTests
{
    private static readonly SweepSettings s_settings = new([128, 2048], ["adan", "adamw", "lamb"], LearningRateScaling.Sqrt, 10, 1, 256, 1);

    [Fact]
    public void TheReportTablesTheAccuracyAndAnswersFromTheDrops()
    {
        var results = new[]
        {
            Finished(128, "adan", 0.90), Finished(128, "adamw", 0.89), Finished(128, "lamb", 0.88),
            Finished(2048, "adan", 0.87), Finished(2048, "adamw", 0.85), Finished(2048, "lamb", 0.86),
        };
        var report = SweepReport.Markdown(s_settings, results);
        Assert.Contains("| batch | adan | adamw | lamb |", report);
        Assert.Contains("| 128 | 90.00 | 89.00 | 88.00 |", report);
        Assert.Contains("- adan: drops by 3.00 points", report);
        Assert.Contains("- adamw: drops by 4.00 points", report);
        Assert.Contains("So partly: Adan loses less than adamw, but not less than lamb.", report);
    }

    [Fact]
    public void TheAnswerIsYesWhenAdanLosesLeastAndLeavesOutOptimizersWithoutBothEnds()
    {
        var results = new[]
        {
            Finished(128, "adan", 0.90), Finished(128, "adamw", 0.90), Finished(128, "lamb", 0.90),
            Finished(2048, "adan", 0.89), Finished(2048, "adamw", 0.80), Failed(2048, "lamb"),
        };
        var report = SweepReport.Markdown(s_settings, results);
        Assert.Contains("So yes: Adan loses less than adamw.", report);
        Assert.Contains("lamb did not finish at both ends", report);
        Assert.Contains("| 2048 | 89.00 | 80.00 | failed |", report);
    }

    [Fact]
    public void WithoutAdanTheReportSaysSo()
    {
        var settings = s_settings with { Optimizers = ["adamw"] };
        var report = SweepReport.Markdown(settings, [Finished(128, "adamw", 0.9), Finished(2048, "adamw", 0.8)]);
        Assert.Contains("Adan was not in this sweep (optimizers: adamw)", report);
    }

    [Fact]
    public void TheGptIsComparedByTestLoss()
    {
        var settings = s_settings with { Optimizers = ["adan", "adamw"] };
        RunResult Lm(int batch, string optimizer, double loss) => Finished(batch, optimizer, 0) with { TestAccuracy = null, TestLoss = loss };
        var report = SweepReport.Markdown(settings, [Lm(128, "adan", 1.5), Lm(128, "adamw", 1.5), Lm(2048, "adan", 1.7), Lm(2048, "adamw", 1.6)]);
        Assert.Contains("## Test loss", report);
        Assert.Contains("- adan: rises by 0.2000", report);
        Assert.Contains("So no: Adan does not lose less than adamw.", report);
    }

    [Fact]
    public void TheCsvHasOneRowPerRunAndQuotesErrors()
    {
        var csv = SweepTables.Csv([Finished(128, "adan", 0.9), Failed(2048, "adamw")]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(SweepTables.CsvHeader, csv[0]);
        Assert.Equal("128,adan,0,100,10,1,0.002,10,0.5,0.9,0.3,,,,,,,12.5,1000,finished,true,", csv[1]);
        Assert.Equal("2048,adamw,0,100,0,1,0.002,10,,,,,,,,,,,,failed,true,\"adan train: Invalid lr, \"\"x\"\"\"", csv[2]);
    }

    private static RunResult Finished(int batch, string optimizer, double accuracy) => new()
    {
        Batch = batch, Optimizer = optimizer, Status = RunStatus.Finished, WorldSize = 1, MicroBatch = 64, Accumulation = 1, Steps = 100,
        Epochs = 10, WarmupSteps = 10, PeakLr = 0.002, FinalTrainLoss = 0.5, TestAccuracy = accuracy, TestLoss = 0.3, WallSeconds = 12.5,
        SamplesPerSecond = 1000, Config = "{}", Overrides = [],
    };

    private static RunResult Failed(int batch, string optimizer) => Finished(batch, optimizer, 0) with
    {
        Status = RunStatus.Failed, Epochs = 0, FinalTrainLoss = null, TestAccuracy = null, TestLoss = null, WallSeconds = null,
        SamplesPerSecond = null, Error = "adan train: Invalid lr, \"x\"",
    };
}
