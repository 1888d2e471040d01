using Adan.Sharded.Schedules;
using Adan.Sharded.Training;

namespace Adan.Worker.Commands.Sweep;

/// <summary>The sweep's command-line choices that shape its runs.</summary>
/// <param name="Batches">Global batch sizes, in the order given.</param>
/// <param name="Optimizers">Optimizer config names, in the order given.</param>
/// <param name="Scaling">How each optimizer's learning rate scales from <c>base_batch</c> to a run's batch.</param>
/// <param name="Epochs">Epochs of every run (the fixed sample budget).</param>
/// <param name="WorldSize">Ranks per run.</param>
/// <param name="MaxMicroBatch">The largest micro-batch a rank may hold.</param>
/// <param name="WarmupEpochs">Linear warm-up, in epochs.</param>
internal sealed record SweepSettings(
    IReadOnlyList<int> Batches,
    IReadOnlyList<string> Optimizers,
    LearningRateScaling Scaling,
    int Epochs,
    int WorldSize,
    int MaxMicroBatch,
    double WarmupEpochs)
{
    /// <summary>Runs per (batch, optimizer), each with its own seed (initialisation and data order): base seed + 0, 1, ….</summary>
    public int Seeds { get; init; } = 1;

    /// <summary>Training samples held out for validation in every run (<c>val_split</c>); 0 for none.</summary>
    public int ValSplit { get; init; }

    /// <summary>Evaluate every this many training samples (<c>eval_every_samples</c>); 0 for none.</summary>
    public long EvalEverySamples { get; init; }

    /// <summary>The validation quality runs are timed to (<c>target</c>); null for none. It puts runs in target mode: warm-up then a constant learning rate.</summary>
    public MetricTarget? Target { get; init; }

    /// <summary>Whether runs end where they reach <see cref="Target"/> (<c>stop_at_target</c>).</summary>
    public bool StopAtTarget { get; init; }

    /// <summary>
    /// Multipliers of each optimizer's rule-scaled peak learning rate to search (<c>--lr-grid</c>); null for no search,
    /// one multiplier 1 with the runs' names as they were.
    /// </summary>
    public IReadOnlyList<double>? LrGrid { get; init; }

    /// <summary>Grid points per (batch, optimizer) that the search runs with every seed (<c>--finalists</c>).</summary>
    public int Finalists { get; init; } = 2;

    /// <summary>The multipliers every (batch, optimizer) is planned with: the grid, or 1 alone.</summary>
    public IReadOnlyList<double> Multipliers => LrGrid ?? [1.0];
}
