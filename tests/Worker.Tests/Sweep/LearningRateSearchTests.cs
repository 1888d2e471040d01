using Adan.Sharded.Schedules;
using Adan.Worker.Commands.Sweep;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Sweep;

/// <summary>
/// The learning-rate search's choices, from hand-made results: the finalists' order on validation (higher accuracy,
/// lower loss, fewer steps to the target with censored and unfinished runs last, ties to the multiplier nearest 1), and
/// the two stages over a fake executor.
/// </summary>
public class LearningRateSearchTests
{
    private static readonly SweepSettings s_settings = new([128], ["adan"], LearningRateScaling.Sqrt, 1, 1, 128, 1)
    {
        LrGrid = [0.5, 1, 2], Finalists = 1, Seeds = 1, ValSplit = 100,
    };

    private static readonly (string Because, (double Multiplier, RunResult Run)[] Points, double[] Expected)[] s_orders =
    [
        (
            "higher val_accuracy first",
            [(0.5, Val(0.80)), (1, Val(0.85)), (2, Val(0.82))],
            [1, 2, 0.5]
        ),
        (
            "lower val_loss first when no run has an accuracy",
            [(0.5, Loss(0.40)), (1, Loss(0.50)), (2, Loss(0.30))],
            [2, 0.5, 1]
        ),
        (
            "unfinished and diverged runs last",
            [(0.5, Val(0.80) with { Status = RunStatus.Failed }), (1, Loss(double.NaN)), (2, Loss(0.30))],
            [2, 1, 0.5]
        ),
        (
            "ties go to the multiplier nearest 1, then the smaller",
            [(0.5, Val(0.80)), (1, Val(0.80)), (2, Val(0.80)), (4, Val(0.90))],
            [4, 1, 0.5, 2]
        ),
    ];

    private static readonly (string Because, (double Multiplier, RunResult Run)[] Points, double[] Expected)[] s_targetOrders =
    [
        (
            "fewer steps to the target first, whatever the accuracy",
            [(0.5, Reached(40, 0.80)), (1, Reached(30, 0.70)), (2, Reached(50, 0.90))],
            [1, 0.5, 2]
        ),
        (
            "censored last, ordered among themselves by validation",
            [(0.5, Censored(0.60)), (1, Censored(0.65)), (2, Reached(90, 0.62)), (4, Val(0.9) with { Status = RunStatus.Interrupted })],
            [2, 1, 0.5, 4]
        ),
    ];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void FinalistsAreOrderedOnValidation(int index)
    {
        var (because, points, expected) = s_orders[index];
        var order = LearningRateSearch.Best(points.Select(p => (p.Multiplier, (IReadOnlyList<RunResult>)[p.Run])), s_settings, points.Select(p => p.Run));
        Assert.True(expected.SequenceEqual(order), $"{because}: got {string.Join(", ", order)}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void WithATargetFewerStepsComeFirstAndCensoredRunsLast(int index)
    {
        var (because, points, expected) = s_targetOrders[index];
        var settings = s_settings with { Target = MetricTarget.Parse("val_accuracy=0.5") };
        var order = LearningRateSearch.Best(points.Select(p => (p.Multiplier, (IReadOnlyList<RunResult>)[p.Run])), settings, points.Select(p => p.Run));
        Assert.True(expected.SequenceEqual(order), $"{because}: got {string.Join(", ", order)}");
    }

    [Fact]
    public void StageTwoRunsTheFinalistsOtherSeedsAndChoosesTheBestMedian()
    {
        // Seed 0 favours ×1, but ×2's other seeds are better: the median over three seeds decides.
        var accuracy = new Dictionary<(double, int), double>
        {
            [(0.5, 0)] = 0.70, [(1, 0)] = 0.84, [(2, 0)] = 0.83,
            [(1, 1)] = 0.80, [(1, 2)] = 0.79, [(2, 1)] = 0.86, [(2, 2)] = 0.85,
        };
        var settings = s_settings with { Seeds = 3, Finalists = 2 };
        var plan = settings.Multipliers.SelectMany(m => Enumerable.Range(0, 3).Select(k => Plan(128, m, k))).ToList();
        var stages = new List<string[]>();
        var outcome = LearningRateSearch.Run(plan, settings, runs =>
        {
            stages.Add([.. runs.Select(r => r.Name)]);
            return [.. runs.Select(r => RunResult.Planned(r, RunStatus.Finished) with { ValAccuracy = accuracy[(r.LrMultiplier!.Value, r.SeedIndex!.Value)] })];
        });

        Assert.Equal(["128-adan-lr0.5-seed0", "128-adan-lr1-seed0", "128-adan-lr2-seed0"], stages[0]);
        Assert.Equal(["128-adan-lr1-seed1", "128-adan-lr1-seed2", "128-adan-lr2-seed1", "128-adan-lr2-seed2"], stages[1]);
        Assert.Equal(2, stages.Count);
        Assert.Equal([1.0, 2.0], outcome.Finalists[(128, "adan")]);
        Assert.Equal(2.0, outcome.Chosen[(128, "adan")]);
        Assert.Equal(7, outcome.Results.Count);
        Assert.Equal([42, 43, 44], outcome.ChosenResults.Select(r => r.Seed));
        Assert.All(outcome.ChosenResults, r => Assert.Equal(2.0, r.LrMultiplier));
    }

    [Fact]
    public void WithoutAGridEveryRunIsExecutedAtOnceAndChosen()
    {
        var settings = s_settings with { LrGrid = null, Seeds = 2 };
        var plan = new[] { Plan(128, null, 0), Plan(128, null, 1) };
        var calls = 0;
        var outcome = LearningRateSearch.Run(plan, settings, runs =>
        {
            calls++;
            return [.. runs.Select(r => RunResult.Planned(r, RunStatus.Finished))];
        });
        Assert.Equal(1, calls);
        Assert.Equal(["128-adan-seed0", "128-adan-seed1"], plan.Select(r => r.Name));
        Assert.Equal(2, outcome.ChosenResults.Count);
    }

    private static PlannedRun Plan(int batch, double? multiplier, int seedIndex) =>
        new(batch, "adan", 1, new BatchDecomposition(batch, 1), 512, 4, 4, 1, 0.004 * (multiplier ?? 1), "{}", [])
        {
            Seed = 42 + seedIndex, SeedIndex = seedIndex, LrMultiplier = multiplier,
        };

    private static RunResult Val(double accuracy) => Result() with { ValAccuracy = accuracy, ValLoss = 1 - accuracy };

    private static RunResult Loss(double loss) => Result() with { ValLoss = loss };

    private static RunResult Reached(double step, double accuracy) => Val(accuracy) with { TargetReached = true, TargetStep = step };

    private static RunResult Censored(double accuracy) => Val(accuracy) with { TargetReached = false, TargetStep = 100 };

    private static RunResult Result() => new()
    {
        Batch = 128, Optimizer = "adan", Status = RunStatus.Finished, WorldSize = 1, MicroBatch = 128, Accumulation = 1, Steps = 100, Epochs = 1,
        WarmupSteps = 1, PeakLr = 0.004, Config = "{}", Overrides = [],
    };
}
