using Adan.Sharded.Zero;

namespace Adan.Sharded.Training;

/// <summary>The optimizer side of a data-parallel step: gradient synchronisation plus the update.</summary>
internal interface ITrainingOptimizer : IDisposable
{
    /// <summary>Name for logs and the run summary (adan, lamb, adamw, sgd).</summary>
    string Name { get; }

    /// <summary>Bytes of optimizer state this rank holds.</summary>
    long StateBytes { get; }

    /// <summary>The sharded engine behind this optimizer, which sharded checkpoints save and load.</summary>
    ShardedOptimizer Sharded { get; }

    /// <summary>
    /// Steps skipped because the averaged gradients were not finite, over the whole training: a resumed run carries on
    /// from the count its checkpoint holds.
    /// </summary>
    long SkippedSteps { get; }

    /// <summary>Sets the learning rate of every group for the next step.</summary>
    void SetLearningRate(double lr);

    /// <summary>
    /// Synchronises the gradients of <paramref name="microBatches"/> accumulated backward passes and
    /// updates the parameters. Returns false when the step was skipped (non-finite gradients).
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    /// <exception cref="NonFiniteGradientException">Too many consecutive steps were skipped.</exception>
    bool Step(int microBatches);

    /// <summary>Time the last step waited for communication (the exposed part; with overlap most of it ran during backward).</summary>
    TimeSpan LastCommunication { get; }

    /// <summary>
    /// Time the last step had collectives in flight: <see cref="LastCommunication"/> plus what ran hidden behind backward.
    /// </summary>
    TimeSpan LastCommunicationBusy { get; }
}
