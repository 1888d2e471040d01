using Adan.Worker.Commands;
using Adan.Worker.Commands.Sweep;

namespace Adan.Worker.Tests.Sweep;

/// <summary>How a sweep turns a global batch and warm-up epochs into the trainer's settings.</summary>
public class BatchPlanTests
{
    [Theory]
    [InlineData(128, 1, 256, 128, 1)]
    [InlineData(8192, 2, 256, 256, 16)]
    [InlineData(2048, 4, 96, 64, 8)]
    [InlineData(96, 2, 40, 24, 2)]
    [InlineData(7, 1, 4, 1, 7)]
    public void TheLargestMicroBatchThatDividesTheRankShareIsChosen(int batch, int ranks, int maxMicro, int micro, int accumulation)
    {
        var decomposition = BatchDecomposition.Of(batch, ranks, maxMicro);
        Assert.Equal(new BatchDecomposition(micro, accumulation), decomposition);
        Assert.Equal(batch, ranks * decomposition.MicroBatch * decomposition.Accumulation);
    }

    [Fact]
    public void ABatchThatIsNoMultipleOfTheRanksNamesBoth()
    {
        var error = Assert.Throws<UsageException>(() => BatchDecomposition.Of(130, 4, 256));
        Assert.Contains("--batch-sizes 130", error.Message);
        Assert.Contains("-n 4", error.Message);
    }

    [Fact]
    public void ABatchThatNeedsTooManyMicroBatchesIsRefused()
    {
        var error = Assert.Throws<UsageException>(() => BatchDecomposition.Of(8192, 1, 1));
        Assert.Contains("--batch-sizes 8192", error.Message);
    }

    [Theory]
    [InlineData(1.0, 117, 1170, 117)]
    [InlineData(0.5, 117, 1170, 59)]
    [InlineData(0.0, 117, 1170, 0)]
    [InlineData(1.0, 4, 4, 3)]
    [InlineData(2.0, 7, 7, 6)]
    public void WarmupEpochsBecomeRoundedStepsCappedBeforeTheLastStep(double epochs, long stepsPerEpoch, long totalSteps, long expected) =>
        Assert.Equal(expected, WarmupSchedule.Steps(epochs, stepsPerEpoch, totalSteps));

    [Fact]
    public void StepsPerEpochDropThePartialBatchPerRankAsTheSamplerDoes() =>
        Assert.Equal(60_000 / 4 / (64 * 2), TrainSetSize.StepsPerEpoch(60_000, 4, new BatchDecomposition(64, 2)));

    [Fact]
    public void AValidationSplitIsTakenOutOfTheTrainingSamplesBeforeStepsAreCounted()
    {
        // Without train_subset the held-out samples come off the 60,000 (the warm-up epoch and the ETA count
        // 55,000 samples); with a subset smaller than what is left, the subset is what trains.
        var settings = new SweepSettings([128], ["adan"], Adan.Sharded.Schedules.LearningRateScaling.Sqrt, 1, 1, 128, 1) { ValSplit = 5000 };
        var whole = SweepPlanner.Plan(SweepConfig.Parse(Sweep(""), "sweep.json"), settings).Single();
        Assert.Equal(55_000, whole.TrainSamples);
        Assert.Equal(55_000 / 128, whole.StepsPerEpoch);
        // One epoch of warm-up in a one-epoch run: capped at the last step but one.
        Assert.Equal(55_000 / 128 - 1, whole.WarmupSteps);
        var subset = SweepPlanner.Plan(SweepConfig.Parse(Sweep(", \"train_subset\": 512"), "sweep.json"), settings).Single();
        Assert.Equal(512, subset.TrainSamples);
        var error = Assert.Throws<UsageException>(() => SweepPlanner.Plan(SweepConfig.Parse(Sweep(""), "sweep.json"), settings with { ValSplit = 60_000 }));
        Assert.StartsWith("--val-split 60000: the training set has 60000 samples", error.Message);
    }

    private static string Sweep(string extra) =>
        "{ \"base\": { \"model\": \"mlp\", \"base_batch\": 128" + extra + " }, \"optimizers\": { \"adan\": { \"lr\": 0.004 } } }";
}
