using Adan.Sharded.Schedules;
using Adan.Worker.Commands.Sweep;
using Adan.Worker.Commands.Sweep.Analysis;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Sweep;

/// <summary>
/// The report's critical-batch section and plot (issue 26 item 6) from synthetic steps-to-target results: the fit per
/// optimizer with intervals, censored runs counted, the measured noise scale as B_noise and a B / B_noise column, and the
/// B_crit verdict worded from the bootstrap interval of the ratio.
/// </summary>
public class CriticalBatchSectionTests
{
    private static readonly int[] s_batches = [64, 128, 256, 512, 1024, 2048];

    private static SweepSettings Settings(params string[] optimizers) =>
        new(s_batches, optimizers, LearningRateScaling.Sqrt, 10, 2, 256, 1)
        {
            Seeds = 3, ValSplit = 1000, EvalEverySamples = 500, Target = MetricTarget.Parse("val_accuracy=0.85"), StopAtTarget = true,
        };

    /// <summary>Three seeds per batch of S(B) = sMin·(1 + bCrit/B) with ±<paramref name="scatter"/> relative noise.</summary>
    private static IEnumerable<RunResult> Runs(string optimizer, double sMin, double bCrit, double scatter, double? noiseScale = null)
    {
        var random = new Random(optimizer.Length * 7919 + (int)bCrit);
        foreach (var batch in s_batches)
        {
            for (var seed = 0; seed < 3; seed++)
            {
                var steps = sMin * (1 + bCrit / batch) * (1 + scatter * (2 * random.NextDouble() - 1));
                yield return Reached(batch, optimizer, seed, steps) with { NoiseScale = noiseScale };
            }
        }
    }

    private static RunResult Reached(int batch, string optimizer, int seed, double steps) => new()
    {
        Batch = batch, Optimizer = optimizer, Seed = seed, Status = RunStatus.Finished, WorldSize = 2, MicroBatch = 32, Accumulation = 1,
        Steps = (long)Math.Ceiling(steps), Epochs = 1, WarmupSteps = 10, PeakLr = 0.002, ValAccuracy = 0.86, TestAccuracy = 0.85,
        TargetReached = true, TargetStep = steps, TargetSamples = steps * batch, Config = "{}", Overrides = [],
    };

    [Fact]
    public void ASeparatedCriticalBatchNamesTheWinnerAndTheNoiseScaleIsTabled()
    {
        var results = Runs("adan", 200, 2000, 0.03, noiseScale: 900).Concat(Runs("adamw", 200, 250, 0.03, noiseScale: 1100)).ToList();
        var report = SweepReport.Markdown(Settings("adan", "adamw"), results);

        Assert.Contains("## Critical batch size from steps to val_accuracy=0.85", report);
        Assert.Contains("B_noise = 1000 (median of 36 run(s); range [900, 1100])", report);
        Assert.Contains("| batch | B / B_noise |", report);
        Assert.Contains("| 2048 | 2.05 |", report);
        var adan = Row(report, "| adan | 18 | 0 |");
        var adamw = Row(report, "| adamw | 18 | 0 |");
        Assert.InRange(CritOf(adan), 1600, 2500);
        Assert.InRange(CritOf(adamw), 200, 310);
        Assert.Contains("adan is better than adamw in critical batch size B_crit, by a factor of", report);
    }

    [Fact]
    public void OverlappingCriticalBatchesAreNoDifference()
    {
        var results = Runs("adan", 200, 500, 0.25).Concat(Runs("lamb", 210, 520, 0.25)).ToList();
        var report = SweepReport.Markdown(Settings("adan", "lamb"), results);
        Assert.Contains("adan vs lamb: no difference in critical batch size B_crit (95 % interval of adan / lamb: [", report);
        Assert.Contains("contains 1)", report);
        Assert.DoesNotContain("B / B_noise", report);
        Assert.Contains("Gradient noise scale: not measured", report);
    }

    [Fact]
    public void CensoredRunsAreCountedNotFittedAndTooFewPointsGiveNoFit()
    {
        var results = Runs("adan", 200, 1000, 0.05).ToList();
        results[^1] = results[^1] with { TargetReached = false, TargetStep = null, TargetSamples = null };
        results.Add(Reached(64, "sgd", 0, 900));
        results.Add(Reached(128, "sgd", 0, 500));
        results.Add(Reached(128, "sgd", 1, 510) with { TargetReached = false, TargetStep = null });
        var report = SweepReport.Markdown(Settings("adan", "sgd"), results);

        Assert.Contains("| adan | 17 | 1 |", report);
        Assert.Contains("| sgd | 2 | 1 | no fit (needs ≥ 3 reaching runs over ≥ 2 batch sizes) |", report);
        Assert.Contains("- adan vs sgd: sgd has no fit, so B_crit cannot be compared.", report);
        Assert.Contains("censored", report);
    }

    [Fact]
    public void TheStepsToTargetPlotIsAPngWithTheFitAndTheBand()
    {
        var results = Runs("adan", 200, 2000, 0.03, noiseScale: 900).Concat(Runs("adamw", 200, 250, 0.03, noiseScale: 1100)).ToList();
        var png = StepsToTargetPlot.Render(Settings("adan", "adamw"), results);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png.Take(4));
        Assert.True(png.Length > 10_000, $"{png.Length} bytes: too small for a plot with points, fits and a band");
    }

    [Fact]
    public void TheNoiseBandLeavesOutUnfinishedAndUnboundedRuns()
    {
        var band = NoiseScaleBand.Of([
            Reached(64, "adan", 0, 10) with { NoiseScale = 300 },
            Reached(64, "adan", 1, 10) with { NoiseScale = 500 },
            Reached(64, "adan", 2, 10) with { NoiseScale = double.PositiveInfinity },
            Reached(64, "adamw", 0, 10) with { NoiseScale = 100_000, Status = RunStatus.Failed },
            Reached(64, "adamw", 1, 10) with { NoiseScale = null },
        ]);
        Assert.Equal(new NoiseScaleBand(400, 300, 500, 2), band);
        Assert.Null(NoiseScaleBand.Of([Reached(64, "adan", 0, 10)]));
    }

    [Fact]
    public void TheRatioIntervalOfIdenticalFitsContainsOne()
    {
        var points = Runs("adan", 100, 800, 0.1).Select(r => ((double)r.Batch, r.TargetStep!.Value)).ToList();
        var fit = CriticalBatchFit.Resampled(points)!.Value;
        var (lo, hi) = CriticalBatchFit.RatioInterval(fit.BatchCrit, fit.BatchCrit)!.Value;
        Assert.InRange(1.0, lo, hi);
        Assert.Null(CriticalBatchFit.RatioInterval([], fit.BatchCrit));
    }

    private static string Row(string report, string prefix) =>
        report.Split('\n').Single(line => line.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>The B_crit estimate from a table row: the fifth cell, before its interval.</summary>
    private static double CritOf(string row) =>
        double.Parse(row.Split('|')[5].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
}
