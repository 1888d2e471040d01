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

    [Theory]
    [InlineData("epoch 2 step 40/117 loss 0.5123 lr 1.2e-03 samples/s 2150 eta 00:03:12", 2, 40, 117, 0.5123)]
    [InlineData("epoch 1 step 5/9 loss NaN lr 1.0e-03 samples/s 10 skipped 2 eta --:--:--", 1, 5, 9, double.NaN)]
    public void AProgressLineOfTheTrainerIsRead(string line, int epoch, long step, long total, double loss)
    {
        Assert.True(TrainerProgressLine.TryParse(line, out var progress));
        Assert.Equal(new TrainerProgressLine(epoch, step, total, loss), progress);
    }

    [Theory]
    [InlineData("eval step 32: test accuracy 56.00 %, test loss 1.3594")]
    [InlineData("summary: /tmp/x/summary.json")]
    public void OtherLinesAreNotProgress(string line) => Assert.False(TrainerProgressLine.TryParse(line, out _));
}
