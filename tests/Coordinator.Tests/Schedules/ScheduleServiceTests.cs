using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Schedules;

public sealed class ScheduleServiceTests
{
    private static readonly Adan.Coordinator.V1.LearningRateSchedule s_linear = new()
    {
        BaseLearningRate = 1e-3, BaseBatchSize = 256, Scaling = ScalingPolicy.Linear,
        WorldSize = 2, MicroBatchSize = 64, AccumulationSteps = 4, WarmupSteps = 10,
        Decay = DecayKind.Cosine, TotalSteps = 110, MinLearningRate = 0,
    };

    [Fact]
    public async Task Rank0ScheduleIsServedToEveryRank()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 2, s_linear);
        // Global batch 2 x 64 x 4 = 512: peak 2e-3; step 4 is half-way through the warm-up; step 60 half-way down the cosine.
        var atFour = await c.Schedule.LearningRateAsync(new LearningRateRequest { JobId = "job", Step = 4 }, c.Headers);
        Assert.Equal(1e-3, atFour.LearningRate, 15);
        Assert.Equal(2e-3, atFour.PeakLearningRate, 15);
        var atSixty = await c.Schedule.LearningRateAsync(new LearningRateRequest { JobId = "job", Step = 60 }, c.Headers);
        Assert.Equal(1e-3, atSixty.LearningRate, 15);

        await using var client = c.Client("job", 1, 2);
        var schedule = await client.GetScheduleAsync();
        Assert.Equal(512, schedule.GlobalBatchSize);
        Assert.Equal(1e-3, await client.LearningRateAsync(60), 15);
    }

    [Fact]
    public async Task AResumedJobsScheduleBatchReachesEveryRank()
    {
        await using var c = await TestCoordinator.StartAsync();
        // Sized by a run of global batch 256, continued at 512: the warm-up and total are in steps of 256 samples.
        var resumed = s_linear.Clone();
        resumed.ScheduleBatchSize = 256;
        await c.JoinAllAsync("job", 2, resumed);

        await using var client = c.Client("job", 1, 2);
        var schedule = await client.GetScheduleAsync();
        Assert.Equal(256, schedule.ScheduleBatchSize);
        Assert.Equal(2560, schedule.WarmupSamples);
        // 1280 samples = 5 steps of 256 into the warm-up of 10: 6/10 of the peak of the global batch of 512.
        Assert.Equal(2e-3 * 6 / 10, schedule.LearningRateAtSamples(1280), 15);
    }

    [Fact]
    public async Task MissingScheduleIsFailedPrecondition()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 1);
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            c.Schedule.LearningRateAsync(new LearningRateRequest { JobId = "job", Step = 0 }, c.Headers).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
    }

    [Fact]
    public async Task InvalidScheduleAtJoinIsInvalidArgument()
    {
        await using var c = await TestCoordinator.StartAsync();
        var bad = s_linear.Clone();
        bad.TotalSteps = 5;
        var error = await Assert.ThrowsAsync<RpcException>(() => c.JoinAllAsync("job", 1, bad));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("total steps", error.Status.Detail);
    }
}
