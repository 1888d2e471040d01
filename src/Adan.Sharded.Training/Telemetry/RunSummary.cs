namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// The outcome of a run, written by rank 0 as <c>summary.json</c> with snake_case keys (see
/// <see cref="RunSummaryWriter"/>) for scripts, benchmarks and the end-to-end tests.
/// </summary>
/// <param name="WorldSize">Number of ranks.</param>
/// <param name="Steps">Optimizer steps taken (including those before a resume).</param>
/// <param name="Epochs">Epochs completed (fractional when stopped by max_steps).</param>
/// <param name="FinalLoss">The last reported training loss.</param>
/// <param name="TestAccuracy">Test accuracy in [0, 1]; null for the GPT.</param>
/// <param name="SamplesPerSecond">Global training throughput.</param>
/// <param name="WallSeconds">Wall time of the run.</param>
/// <param name="CheckpointDir">Where checkpoints went (null when checkpointing was off).</param>
/// <param name="Optimizer">The optimizer's config name (adan, adamw, sgd).</param>
/// <param name="ZeroStage">The ZeRO stage.</param>
internal sealed record RunSummary(
    int WorldSize,
    long Steps,
    double Epochs,
    double FinalLoss,
    double? TestAccuracy,
    double SamplesPerSecond,
    double WallSeconds,
    string? CheckpointDir,
    string Optimizer,
    int ZeroStage)
{
    /// <summary>The model's config name.</summary>
    public string? Model { get; init; }

    /// <summary>The precision the model computed in, the bytes each step moved, and the CPU's bf16 support.</summary>
    public PrecisionSummary? Precision { get; init; }

    /// <summary>Samples per optimizer step over all ranks.</summary>
    public long? GlobalBatch { get; init; }

    /// <summary>Mean test (classification) or validation (GPT) loss, when evaluated.</summary>
    public double? TestLoss { get; init; }

    /// <summary>Rank 0's share of step time in forward and backward passes.</summary>
    public double? ForwardBackwardShare { get; init; }

    /// <summary>
    /// Rank 0's share of step time spent waiting for gradient and parameter communication: the exposed part, without
    /// what ran hidden behind backward (<see cref="CommunicationBusySeconds"/> has all of it).
    /// </summary>
    public double? CommunicationShare { get; init; }

    /// <summary>
    /// Rank 0's seconds with collectives of the steps in flight, all steps together: the exposed waits plus the gradient
    /// reduction that overlapped backward, so comparing it with the step time shows how much the overlap hid.
    /// </summary>
    public double? CommunicationBusySeconds { get; init; }

    /// <summary>Rank 0's share of step time in the optimizer update (the rest of the step).</summary>
    public double? OptimizerShare { get; init; }

    /// <summary>Bytes of optimizer state on rank 0.</summary>
    public long? OptimizerStateBytes { get; init; }

    /// <summary>The checkpoint this run resumed from, if any.</summary>
    public string? ResumedFrom { get; init; }

    /// <summary>Checkpoints this run saved.</summary>
    public int? CheckpointsSaved { get; init; }

    /// <summary>
    /// Seconds from each save's start to its commit, all together; with async_checkpoint most of it overlaps training
    /// (see docs/architecture.md).
    /// </summary>
    public double? CheckpointSeconds { get; init; }

    /// <summary>Seconds training was blocked by saves, all together (the whole save when synchronous).</summary>
    public double? CheckpointPauseSeconds { get; init; }

    /// <summary>
    /// Bytes of host staging memory per rank held for background saves or, on a GPU, for the device↔host copies of
    /// saves and loads; null when saves of CPU tensors are synchronous.
    /// </summary>
    public long? CheckpointStagingBytes { get; init; }

    /// <summary>
    /// The most bytes of the flat gradient buffer resident at once on any rank (counted page by page) during the run's
    /// second to sixth steps: about the whole buffer for ZeRO-0/1, about a 1/W shard plus the buckets in flight and the
    /// largest gradient written at once for ZeRO-2 with overlapped reduction. Null when not measured (a one-step run, off
    /// the CPU, not Linux).
    /// </summary>
    public long? PeakGradientBytes { get; init; }

    /// <summary>
    /// The gradient noise scale of this run's steps (a resumed run's since its resume): B_simple with its 95 % interval,
    /// tr Σ, |G|² and the batches they came from, for the whole run and per epoch; a reason instead of numbers when it
    /// could not be estimated. Null when <c>gradient_noise=false</c>.
    /// </summary>
    public GradientNoiseSummary? GradientNoise { get; init; }

    /// <summary>The torch thread count the steps ran with against the configured one (see docs/architecture.md).</summary>
    public ComputeThreadsSummary? ComputeThreads { get; init; }

    /// <summary>
    /// Optimizer steps skipped because the averaged gradients were not finite (including those before a resume); 0 when
    /// none, never absent.
    /// </summary>
    public long SkippedSteps { get; init; }

    /// <summary>
    /// Times <c>adan launch --max-restarts</c> restarted the job from its last checkpoint before this run ended; 0 for a
    /// run never restarted, never absent.
    /// </summary>
    public int Restarts { get; init; }

    /// <summary>Mean loss on the validation split (<c>val_split</c>) at the end; null without one.</summary>
    public double? ValLoss { get; init; }

    /// <summary>Accuracy on the validation split at the end, in [0, 1]; null without one.</summary>
    public double? ValAccuracy { get; init; }

    /// <summary>Reaching the configured <c>target</c> (<see cref="TargetSummary"/>); null without one.</summary>
    public TargetSummary? Target { get; init; }

    /// <summary>
    /// Set when SIGUSR1 or SIGTERM stopped the run (<see cref="PreemptionSummary"/>): the step saved and how to resume;
    /// the final evaluation was skipped, so the test scores are null. Null for a run that ended on its own.
    /// </summary>
    public PreemptionSummary? Preempted { get; init; }

    /// <summary>The program's version (<see cref="BuildInfo.Version"/>); null when unknown, never absent.</summary>
    public string? Version { get; init; }

    /// <summary>The git commit the program was built from (<see cref="BuildInfo.GitCommit"/>); null when unknown, never absent.</summary>
    public string? GitCommit { get; init; }
}
