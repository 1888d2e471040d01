using Adan.Sharded.Schedules;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Training;

/// <summary>A rank refuses a served learning-rate schedule that is invalid, for another world size, or far above its own.</summary>
public sealed class ServedScheduleTests
{
    private static readonly LearningRateSchedule s_own = new()
    {
        BaseLearningRate = 1e-3, BaseBatchSize = 64, WorldSize = 2, MicroBatchSize = 32, AccumulationSteps = 1,
    };

    [Fact]
    public void TheSameScheduleOrOneWithinTheBoundIsAdopted()
    {
        Assert.Same(s_own, ServedSchedule.Check(s_own, s_own));
        var higher = s_own with { BaseLearningRate = 1e-3 * ServedSchedule.MaxPeakRatio };
        Assert.Same(higher, ServedSchedule.Check(s_own, higher));
    }

    [Theory]
    [InlineData(double.PositiveInfinity, "Invalid base learning rate: ")]
    [InlineData(double.NaN, "Invalid base learning rate: ")]
    [InlineData(-0.5, "Invalid base learning rate: -0.5")]
    [InlineData(1e6, "peak learning rate 1000000 is not finite and positive or exceeds 100 × this rank's configured peak 0.001")]
    [InlineData(0.1000001, "exceeds 100 ×")]
    public void AnAbsurdPeakIsRefusedNamingTheValueAndTheBound(double baseLearningRate, string named)
    {
        var error = Assert.Throws<InvalidDataException>(() => ServedSchedule.Check(s_own, s_own with { BaseLearningRate = baseLearningRate }));
        Assert.StartsWith("the learning-rate schedule the coordinator served was refused: ", error.Message);
        Assert.Contains(named, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void AScheduleForAnotherWorldSizeOrWithANegativeFloorIsRefused()
    {
        var other = Assert.Throws<InvalidDataException>(() => ServedSchedule.Check(s_own, s_own with { WorldSize = 8 }));
        Assert.Contains("it is for 8 ranks but this job has 2", other.Message);
        var floor = Assert.Throws<InvalidDataException>(() => ServedSchedule.Check(s_own, s_own with { MinLearningRate = -1 }));
        Assert.Contains("Invalid min learning rate: -1", floor.Message);
    }
}
