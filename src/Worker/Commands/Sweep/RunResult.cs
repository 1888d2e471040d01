namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// What a sweep keeps of one run, written to <c>runs/&lt;batch&gt;-&lt;optimizer&gt;/result.json</c> as soon as the run
/// ends (see <see cref="RunResultFile"/>); the sweep's tables, report and plots are made from these alone.
/// </summary>
internal sealed record RunResult
{
    /// <summary>The global batch.</summary>
    public required int Batch { get; init; }

    /// <summary>The optimizer's config name.</summary>
    public required string Optimizer { get; init; }

    /// <summary>How the run ended.</summary>
    public required RunStatus Status { get; init; }

    /// <summary>Ranks it ran on.</summary>
    public required int WorldSize { get; init; }

    /// <summary>Samples per rank per forward/backward.</summary>
    public required int MicroBatch { get; init; }

    /// <summary>Micro-batches per optimizer step.</summary>
    public required int Accumulation { get; init; }

    /// <summary>Optimizer steps: the trainer's count once finished, the planned count before.</summary>
    public required long Steps { get; init; }

    /// <summary>Epochs trained (the trainer's count once finished).</summary>
    public required double Epochs { get; init; }

    /// <summary>Warm-up steps passed to the trainer.</summary>
    public required long WarmupSteps { get; init; }

    /// <summary>The scaled peak learning rate, times <see cref="LrMultiplier"/>.</summary>
    public required double PeakLr { get; init; }

    /// <summary>The multiplier of the rule-scaled learning rate (<c>--lr-grid</c>); 1 without a grid.</summary>
    public double LrMultiplier { get; init; } = 1;

    /// <summary>The last training loss the trainer reported.</summary>
    public double? FinalTrainLoss { get; init; }

    /// <summary>Test accuracy in [0, 1]; null for the GPT or an unfinished run.</summary>
    public double? TestAccuracy { get; init; }

    /// <summary>Mean test (validation for the GPT) loss.</summary>
    public double? TestLoss { get; init; }

    /// <summary>The run's seed.</summary>
    public int Seed { get; init; }

    /// <summary>Accuracy on the validation split at the end, in [0, 1]; null without <c>--val-split</c> or an unfinished run.</summary>
    public double? ValAccuracy { get; init; }

    /// <summary>Mean loss on the validation split at the end.</summary>
    public double? ValLoss { get; init; }

    /// <summary>Whether the run reached <c>--target</c>; null without one or unfinished.</summary>
    public bool? TargetReached { get; init; }

    /// <summary>The step of reaching the target, interpolated; when censored (not reached) the last evaluated step, a lower bound.</summary>
    public double? TargetStep { get; init; }

    /// <summary>The training samples of reaching the target, interpolated (or the censored lower bound).</summary>
    public double? TargetSamples { get; init; }

    /// <summary>Wall time of the trainer's run.</summary>
    public double? WallSeconds { get; init; }

    /// <summary>Global training throughput.</summary>
    public double? SamplesPerSecond { get; init; }

    /// <summary>When the sweep launched the run (UTC); null for a run not launched.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When the run's launch ended (UTC); with <see cref="StartedAt"/> it shows which runs of a <c>--parallel</c> sweep ran side by side.</summary>
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Why the run failed or stopped: the last lines of its stderr, or the reason.</summary>
    public string? Error { get; init; }

    /// <summary>The run's config file text; with <see cref="Overrides"/> it decides whether a finished run may be skipped.</summary>
    public required string Config { get; init; }

    /// <summary>The <c>--set</c> settings the sweep passed.</summary>
    public required IReadOnlyList<string> Overrides { get; init; }

    /// <summary>
    /// The run's gradient noise scale B_simple over the whole run (<c>summary.json</c>'s <c>gradient_noise.run</c>);
    /// null when the run measured none (one rank without accumulation, or no estimate).
    /// </summary>
    public double? NoiseScale { get; init; }

    /// <summary>The 95 % interval of <see cref="NoiseScale"/>; its upper end may be +∞ (|G|² not distinguishable from 0).</summary>
    public double[]? NoiseScaleCi95 { get; init; }

    /// <summary>Training loss against samples seen, one point per step record of the run's <c>metrics.jsonl</c>.</summary>
    public IReadOnlyList<CurvePoint> Curve { get; init; } = [];

    /// <summary>A result for <paramref name="run"/> with its plan filled in and no outcome yet.</summary>
    public static RunResult Planned(PlannedRun run, RunStatus status) => new()
    {
        Batch = run.Batch,
        Optimizer = run.Optimizer,
        Status = status,
        WorldSize = run.WorldSize,
        MicroBatch = run.Decomposition.MicroBatch,
        Accumulation = run.Decomposition.Accumulation,
        Steps = run.Steps,
        Epochs = 0,
        WarmupSteps = run.WarmupSteps,
        PeakLr = run.PeakLr,
        LrMultiplier = run.LrMultiplier ?? 1,
        Seed = run.Seed,
        Config = run.Config,
        Overrides = run.Overrides,
    };

    /// <summary>Whether this result is a finished run of exactly <paramref name="run"/>'s plan.</summary>
    public bool Finishes(PlannedRun run) =>
        Status == RunStatus.Finished && Config == run.Config && Overrides.SequenceEqual(run.Overrides);
}
