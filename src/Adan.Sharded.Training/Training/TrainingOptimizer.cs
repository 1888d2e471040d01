using Adan.Sharded.Zero;

namespace Adan.Sharded.Training;

/// <summary>Any optimizer of the <see cref="OptimizerRegistry"/> as the trainer drives it: the sharded engine with its rule.</summary>
internal sealed class TrainingOptimizer(ShardedOptimizer optimizer) : ITrainingOptimizer
{
    /// <inheritdoc />
    public string Name => optimizer.Name;

    /// <inheritdoc />
    public long StateBytes => optimizer.StateBytes;

    /// <inheritdoc />
    public ShardedOptimizer Sharded => optimizer;

    /// <inheritdoc />
    public long SkippedSteps => optimizer.SkippedSteps;

    /// <inheritdoc />
    public TimeSpan LastCommunication => optimizer.LastTimings.Communication;

    /// <inheritdoc />
    public TimeSpan LastCommunicationBusy =>
        optimizer.LastReduceBusy + optimizer.LastTimings.Statistics + optimizer.LastTimings.ParameterSums + optimizer.LastTimings.AllGather;

    /// <inheritdoc />
    public void SetLearningRate(double lr)
    {
        foreach (var group in optimizer.Groups)
        {
            group.Options.LearningRate = lr;
        }
    }

    /// <inheritdoc />
    public bool Step(int microBatches) => optimizer.Step(microBatches);

    /// <inheritdoc />
    public void Dispose() => optimizer.Dispose();
}
