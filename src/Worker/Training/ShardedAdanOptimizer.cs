using Adan.Sharded.Zero;

namespace Adan.Worker.Training;

/// <summary>Adan with ZeRO-sharded state (<see cref="ShardedAdan"/>).</summary>
internal sealed class ShardedAdanOptimizer(ShardedAdan adan) : ITrainingOptimizer
{
    public ShardedAdan Adan { get; } = adan;

    public string Name => "adan";

    public long StateBytes => Adan.StateBytes;

    public TimeSpan LastCommunication => Adan.LastTimings.Reduce + Adan.LastTimings.Statistics + Adan.LastTimings.AllGather;

    public void SetLearningRate(double lr)
    {
        foreach (var group in Adan.Groups)
        {
            group.Options.LearningRate = lr;
        }
    }

    public bool Step(int microBatches) => Adan.Step(microBatches);

    public void Dispose() => Adan.Dispose();
}
