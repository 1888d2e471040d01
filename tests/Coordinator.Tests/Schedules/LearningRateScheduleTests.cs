using Adan.Sharded.Schedules;

namespace Adan.Coordinator.Tests.Schedules;

/// <summary>The schedule against values computed by hand (comments show the arithmetic); tolerance 1e-15 relative.</summary>
public sealed class LearningRateScheduleTests
{
    private static void Near(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-15 * Math.Max(1.0, Math.Abs(expected)) + 1e-18,
            $"expected {expected:R}, got {actual:R}, difference {Math.Abs(expected - actual):E3}");

    [Fact]
    public void LinearScalingWithWarmupThenConstant()
    {
        // Global batch 4 x 32 x 4 = 512 = 2 x 256, so the peak is 2 x 1e-3.
        var schedule = new LearningRateSchedule
        {
            BaseLearningRate = 1e-3, BaseBatchSize = 256, Scaling = LearningRateScaling.Linear,
            WorldSize = 4, MicroBatchSize = 32, AccumulationSteps = 4, WarmupSteps = 10,
        };
        Assert.Equal(512, schedule.GlobalBatchSize);
        Near(2e-3, schedule.PeakLearningRate);
        Near(2e-4, schedule.LearningRateAt(0));   // 2e-3 x 1/10
        Near(1e-3, schedule.LearningRateAt(4));   // 2e-3 x 5/10
        Near(2e-3, schedule.LearningRateAt(9));   // 2e-3 x 10/10
        Near(2e-3, schedule.LearningRateAt(10));
        Near(2e-3, schedule.LearningRateAt(1_000_000));
    }

    [Fact]
    public void SqrtScaling()
    {
        // Global batch 8 x 32 x 4 = 1024 = 4 x 256, so the peak is sqrt(4) x 1e-3.
        var schedule = new LearningRateSchedule
        {
            BaseLearningRate = 1e-3, BaseBatchSize = 256, Scaling = LearningRateScaling.Sqrt,
            WorldSize = 8, MicroBatchSize = 32, AccumulationSteps = 4,
        };
        Near(2e-3, schedule.LearningRateAt(0));
    }

    [Fact]
    public void NoScalingIgnoresTheBatch()
    {
        var schedule = new LearningRateSchedule { BaseLearningRate = 3e-4, WorldSize = 64, MicroBatchSize = 128, AccumulationSteps = 8 };
        Near(3e-4, schedule.LearningRateAt(123));
    }

    [Fact]
    public void CosineWithoutWarmup()
    {
        var schedule = new LearningRateSchedule
        {
            BaseLearningRate = 1e-3, Decay = LearningRateDecay.Cosine, TotalSteps = 100, MinLearningRate = 1e-4,
        };
        Near(1e-3, schedule.LearningRateAt(0));
        Near(8.681980515339464e-4, schedule.LearningRateAt(25)); // 1e-4 + 9e-4 x (1 + sqrt(2)/2) / 2
        Near(5.5e-4, schedule.LearningRateAt(50));               // 1e-4 + 9e-4 x 1/2
        Near(1e-4, schedule.LearningRateAt(100));
        Near(1e-4, schedule.LearningRateAt(500));
    }

    [Fact]
    public void CosineAfterWarmup()
    {
        var schedule = new LearningRateSchedule
        {
            BaseLearningRate = 1e-3, WarmupSteps = 10, Decay = LearningRateDecay.Cosine, TotalSteps = 110,
        };
        Near(1e-4, schedule.LearningRateAt(0));
        Near(1e-3, schedule.LearningRateAt(10));  // progress 0
        Near(5e-4, schedule.LearningRateAt(60));  // progress 1/2
        Near(0, schedule.LearningRateAt(110));
    }

    [Theory]
    [InlineData("base learning rate")]
    [InlineData("base batch size")]
    [InlineData("world size")]
    [InlineData("micro-batch size")]
    [InlineData("accumulation steps")]
    [InlineData("warm-up steps")]
    [InlineData("total steps")]
    [InlineData("min learning rate")]
    public void InvalidFieldsAreNamed(string field)
    {
        var valid = new LearningRateSchedule { Decay = LearningRateDecay.Cosine, WarmupSteps = 5, TotalSteps = 50 };
        var invalid = field switch
        {
            "base learning rate" => valid with { BaseLearningRate = 0 },
            "base batch size" => valid with { BaseBatchSize = 0 },
            "world size" => valid with { WorldSize = 0 },
            "micro-batch size" => valid with { MicroBatchSize = -1 },
            "accumulation steps" => valid with { AccumulationSteps = 0 },
            "warm-up steps" => valid with { WarmupSteps = -1 },
            "total steps" => valid with { TotalSteps = 5 },
            _ => valid with { MinLearningRate = 1.0 },
        };
        valid.Validate();
        var error = Assert.ThrowsAny<ArgumentException>(() => invalid.LearningRateAt(0));
        Assert.Contains($"Invalid {field}", error.Message);
    }

    [Fact]
    public void NegativeStepIsRejected()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule().LearningRateAt(-1));
        Assert.Contains("Invalid step: -1", error.Message);
    }
}
