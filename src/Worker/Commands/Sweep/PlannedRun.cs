using System.Globalization;

namespace Adan.Worker.Commands.Sweep;

/// <summary>One (batch, optimizer) run of a sweep, with everything decided before it starts.</summary>
/// <param name="Batch">The global batch.</param>
/// <param name="Optimizer">The optimizer's config name.</param>
/// <param name="WorldSize">Ranks the run is launched on.</param>
/// <param name="Decomposition">Micro-batch and accumulation that make up <paramref name="Batch"/>.</param>
/// <param name="TrainSamples">Training samples, after <c>train_subset</c>.</param>
/// <param name="StepsPerEpoch">Optimizer steps per epoch.</param>
/// <param name="Steps">Optimizer steps of the whole run.</param>
/// <param name="WarmupSteps">Warm-up steps passed to the trainer.</param>
/// <param name="PeakLr">
/// The scaled learning rate the warm-up reaches, times <see cref="LrMultiplier"/>, from <c>LearningRateSchedule</c> as the
/// trainer computes it.
/// </param>
/// <param name="Config">The run's config file: the base section with the optimizer's section over it.</param>
/// <param name="Overrides">The <c>key=value</c> settings the sweep passes with <c>--set</c>.</param>
internal sealed record PlannedRun(
    int Batch,
    string Optimizer,
    int WorldSize,
    BatchDecomposition Decomposition,
    long TrainSamples,
    long StepsPerEpoch,
    long Steps,
    long WarmupSteps,
    double PeakLr,
    string Config,
    IReadOnlyList<string> Overrides)
{
    /// <summary>The run's seed (initialisation and data order).</summary>
    public int Seed { get; init; }

    /// <summary>Which of the sweep's seeds this is (0, 1, …); null when the sweep runs one seed, whose runs keep their old names.</summary>
    public int? SeedIndex { get; init; }

    /// <summary>
    /// The multiplier of the rule-scaled learning rate, a point of <c>--lr-grid</c>; null when the sweep searches no
    /// learning rate, whose runs keep their old names.
    /// </summary>
    public double? LrMultiplier { get; init; }

    /// <summary>
    /// The run's directory name under <c>runs/</c>, e.g. <c>512-adan</c>, <c>512-adan-seed1</c> with several seeds,
    /// <c>512-adan-lr0.5</c> or <c>512-adan-lr0.5-seed1</c> with a learning-rate grid.
    /// </summary>
    public string Name =>
        $"{Batch}-{Optimizer}"
        + (LrMultiplier is { } m ? $"-lr{m.ToString("R", CultureInfo.InvariantCulture)}" : "")
        + (SeedIndex is { } k ? $"-seed{k}" : "");

    /// <summary>
    /// The <c>threads</c> the run's config sets; 0 when it leaves them to the sweep, which passes its slice's share with
    /// <c>--parallel</c> (see <see cref="LaunchSlice.Threads"/>), or to the trainer.
    /// </summary>
    public int Threads { get; init; }

    /// <summary>Samples a run of this plan trains on: the same for every batch up to the dropped partial batches.</summary>
    public long Samples => Steps * Batch;
}
