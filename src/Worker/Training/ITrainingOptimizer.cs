namespace Adan.Worker.Training;

/// <summary>The optimizer side of a data-parallel step: gradient synchronisation plus the update.</summary>
internal interface ITrainingOptimizer : IDisposable
{
    /// <summary>Name for logs and the run summary (adan, adamw, sgd).</summary>
    string Name { get; }

    /// <summary>Bytes of optimizer state this rank holds.</summary>
    long StateBytes { get; }

    /// <summary>Sets the learning rate of every group for the next step.</summary>
    void SetLearningRate(double lr);

    /// <summary>
    /// Synchronises the gradients of <paramref name="microBatches"/> accumulated backward passes and
    /// updates the parameters. Returns false when the step was skipped (non-finite gradients).
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    bool Step(int microBatches);

    /// <summary>Time spent in communication during the last step.</summary>
    TimeSpan LastCommunication { get; }
}
