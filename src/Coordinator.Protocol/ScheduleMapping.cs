using Adan.Sharded.Schedules;
using Proto = Adan.Coordinator.V1;

namespace Adan.Coordinator.Protocol;

/// <summary>Converts between the wire form of a schedule and the pure <see cref="LearningRateSchedule"/>.</summary>
public static class ScheduleMapping
{
    /// <summary>The schedule a message describes; unspecified enums take their documented defaults.</summary>
    /// <exception cref="ArgumentException">An enum value is unknown.</exception>
    public static LearningRateSchedule ToSchedule(Proto.LearningRateSchedule message) => new()
    {
        BaseLearningRate = message.BaseLearningRate,
        BaseBatchSize = message.BaseBatchSize,
        Scaling = message.Scaling switch
        {
            Proto.ScalingPolicy.Unspecified or Proto.ScalingPolicy.None => LearningRateScaling.None,
            Proto.ScalingPolicy.Linear => LearningRateScaling.Linear,
            Proto.ScalingPolicy.Sqrt => LearningRateScaling.Sqrt,
            _ => throw new ArgumentException($"Invalid scaling policy: {(int)message.Scaling} (expected NONE, LINEAR or SQRT)"),
        },
        WorldSize = message.WorldSize,
        MicroBatchSize = message.MicroBatchSize,
        AccumulationSteps = message.AccumulationSteps,
        ScheduleBatchSize = message.ScheduleBatchSize,
        WarmupSteps = message.WarmupSteps,
        Decay = message.Decay switch
        {
            Proto.DecayKind.Unspecified or Proto.DecayKind.Constant => LearningRateDecay.Constant,
            Proto.DecayKind.Cosine => LearningRateDecay.Cosine,
            _ => throw new ArgumentException($"Invalid decay: {(int)message.Decay} (expected CONSTANT or COSINE)"),
        },
        TotalSteps = message.TotalSteps,
        MinLearningRate = message.MinLearningRate,
    };

    /// <summary>The wire form of a schedule.</summary>
    public static Proto.LearningRateSchedule ToMessage(LearningRateSchedule schedule) => new()
    {
        BaseLearningRate = schedule.BaseLearningRate,
        BaseBatchSize = schedule.BaseBatchSize,
        Scaling = schedule.Scaling switch
        {
            LearningRateScaling.Linear => Proto.ScalingPolicy.Linear,
            LearningRateScaling.Sqrt => Proto.ScalingPolicy.Sqrt,
            _ => Proto.ScalingPolicy.None,
        },
        WorldSize = schedule.WorldSize,
        MicroBatchSize = schedule.MicroBatchSize,
        AccumulationSteps = schedule.AccumulationSteps,
        ScheduleBatchSize = schedule.ScheduleBatchSize,
        WarmupSteps = schedule.WarmupSteps,
        Decay = schedule.Decay == LearningRateDecay.Cosine ? Proto.DecayKind.Cosine : Proto.DecayKind.Constant,
        TotalSteps = schedule.TotalSteps,
        MinLearningRate = schedule.MinLearningRate,
    };
}
