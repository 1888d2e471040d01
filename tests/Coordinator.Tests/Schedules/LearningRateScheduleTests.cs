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
    [InlineData("schedule batch size")]
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
            "schedule batch size" => valid with { ScheduleBatchSize = -1 },
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

    [Fact]
    public void NegativeSamplesAreRejected()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule().LearningRateAtSamples(-1));
        Assert.Contains("Invalid samples seen: -1", error.Message);
    }

    /// <summary>The schedule of the original run: global batch 2 × 6 = 12, 10 steps of warm-up, cosine over 40 steps.</summary>
    private static readonly LearningRateSchedule s_original = new()
    {
        BaseLearningRate = 2e-3, WorldSize = 2, MicroBatchSize = 6, WarmupSteps = 10, Decay = LearningRateDecay.Cosine, TotalSteps = 40,
        MinLearningRate = 1e-4,
    };

    [Fact]
    public void AtTheScheduleBatchSamplesGiveTheStepFormulaBitForBit()
    {
        // 0 (its own global batch) and 12 spelled out are the same schedule.
        foreach (var schedule in new[] { s_original, s_original with { ScheduleBatchSize = 12 } })
        {
            Assert.Equal(120, schedule.WarmupSamples);
            Assert.Equal(480, schedule.TotalSamples);
            for (var step = 0L; step <= 45; step++)
            {
                var expected = step < 10
                    ? 2e-3 * (step + 1) / 10
                    : 1e-4 + (2e-3 - 1e-4) * 0.5 * (1.0 + Math.Cos(Math.PI * Math.Min(1.0, (double)(step - 10) / (40 - 10))));
                Assert.Equal(expected, schedule.LearningRateAt(step));
                Assert.Equal(expected, schedule.LearningRateAtSamples(step * 12));
            }
        }
    }

    [Theory]
    [InlineData(3, 4, 1)]   // W 2 -> 3 at the same global batch
    [InlineData(1, 6, 2)]   // W 2 -> 1, accumulation 1 -> 2
    [InlineData(2, 9, 1)]   // another global batch (18)
    [InlineData(4, 2, 3)]   // another global batch (24)
    public void AResumedRunGetsTheOriginalRunsLearningRateAtTheSameSampleCount(int worldSize, int microBatch, int accumulation)
    {
        var resumed = s_original with { WorldSize = worldSize, MicroBatchSize = microBatch, AccumulationSteps = accumulation, ScheduleBatchSize = 12 };
        // Every sample count the original run reaches (a checkpoint can be taken after any of its steps).
        for (var step = 0L; step <= 45; step++)
        {
            Assert.Equal(s_original.LearningRateAt(step), resumed.LearningRateAtSamples(step * 12));
        }
    }

    [Fact]
    public void BetweenTheOriginalStepsTheCurveIsFollowedInSamples()
    {
        var resumed = s_original with { MicroBatchSize = 9, ScheduleBatchSize = 12 };
        // 18 samples into the run: 1.5 original steps, so the warm-up is at (1.5 + 1) / 10 of the peak.
        Near(2e-3 * 2.5 / 10, resumed.LearningRateAtSamples(18));
        // A step of a larger batch that starts in the last warm-up step (x = 9.5) is at the peak, not above it.
        Assert.Equal(2e-3, resumed.LearningRateAtSamples(114));
        // Half-way down the cosine (x = 25) and past its end.
        Near(1e-4 + 1.9e-3 * 0.5, resumed.LearningRateAtSamples(300));
        Assert.Equal(1e-4, resumed.LearningRateAtSamples(10_000));
    }

    [Fact]
    public void TheLargeBatchScalingFollowsTheCurrentGlobalBatch()
    {
        // The shape stays in samples; the peak is scaled for the batch of the run that trains.
        var original = s_original with { Scaling = LearningRateScaling.Sqrt, BaseBatchSize = 12 };
        var larger = original with { WorldSize = 4, MicroBatchSize = 12, ScheduleBatchSize = 12 };
        Assert.Equal(2e-3, original.PeakLearningRate);
        Near(2e-3 * 2, larger.PeakLearningRate);
        Near(2e-3 * 2 * 5 / 10, larger.LearningRateAtSamples(48));
    }
}
