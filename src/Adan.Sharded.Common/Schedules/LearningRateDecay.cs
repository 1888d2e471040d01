namespace Adan.Sharded.Schedules;

/// <summary>What a <see cref="LearningRateSchedule"/> does after its warm-up.</summary>
public enum LearningRateDecay
{
    /// <summary>Stay at the peak learning rate.</summary>
    Constant,

    /// <summary>Half a cosine from the peak down to the minimum learning rate at the last step.</summary>
    Cosine,
}
