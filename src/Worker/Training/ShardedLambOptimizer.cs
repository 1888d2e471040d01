using Adan.Sharded.Zero;

namespace Adan.Worker.Training;

/// <summary>LAMB with ZeRO-sharded state (<see cref="ShardedLamb"/>); no checkpoint format holds its state.</summary>
internal sealed class ShardedLambOptimizer(ShardedLamb lamb) : ITrainingOptimizer
{
    /// <inheritdoc />
    public string Name => "lamb";

    /// <inheritdoc />
    public long StateBytes => lamb.StateBytes;

    /// <inheritdoc />
    public ShardedAdan? Sharded => null;

    /// <inheritdoc />
    public long SkippedSteps => lamb.SkippedSteps;

    /// <inheritdoc />
    public TimeSpan LastCommunication =>
        lamb.LastTimings.Reduce + lamb.LastTimings.Statistics + lamb.LastTrustNormReduce + lamb.LastTimings.AllGather;

    /// <inheritdoc />
    public TimeSpan LastCommunicationBusy =>
        lamb.LastReduceBusy + lamb.LastTimings.Statistics + lamb.LastTrustNormReduce + lamb.LastTimings.AllGather;

    /// <inheritdoc />
    public void SetLearningRate(double lr)
    {
        foreach (var group in lamb.Groups)
        {
            group.Options.LearningRate = lr;
        }
    }

    /// <inheritdoc />
    public bool Step(int microBatches) => lamb.Step(microBatches);

    /// <inheritdoc />
    public void Dispose() => lamb.Dispose();
}
