using Adan.Sharded.Zero;

namespace Adan.Worker.Training;

/// <summary>Adan with ZeRO-sharded state (<see cref="ShardedAdan"/>).</summary>
internal sealed class ShardedAdanOptimizer(ShardedAdan adan) : ITrainingOptimizer
{
    /// <inheritdoc />
    public string Name => "adan";

    /// <inheritdoc />
    public long StateBytes => adan.StateBytes;

    /// <inheritdoc />
    public ShardedAdan Sharded => adan;

    /// <inheritdoc />
    public long SkippedSteps => adan.SkippedSteps;

    /// <inheritdoc />
    public TimeSpan LastCommunication => adan.LastTimings.Reduce + adan.LastTimings.Statistics + adan.LastTimings.AllGather;

    /// <inheritdoc />
    public TimeSpan LastCommunicationBusy => adan.LastReduceBusy + adan.LastTimings.Statistics + adan.LastTimings.AllGather;

    /// <inheritdoc />
    public void SetLearningRate(double lr)
    {
        foreach (var group in adan.Groups)
        {
            group.Options.LearningRate = lr;
        }
    }

    /// <inheritdoc />
    public bool Step(int microBatches) => adan.Step(microBatches);

    /// <inheritdoc />
    public void Dispose() => adan.Dispose();
}
