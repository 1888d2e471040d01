using Adan.Sharded.Schedules;

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
    double WarmupEpochs);
