using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// The worker's one <see cref="System.Diagnostics.Metrics.Meter"/> and one
/// <see cref="System.Diagnostics.ActivitySource"/>, both named <see cref="Name"/>, and its
/// instruments. Record through a <see cref="WorkerMetrics"/>, which adds the rank tag.
/// </summary>
internal static class WorkerTelemetry
{
    /// <summary>The meter and activity source name.</summary>
    public const string Name = "Adan.Worker";

    /// <summary>Traces of the run: one activity per epoch, evaluation and checkpoint.</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    /// <summary>The worker's meter.</summary>
    public static readonly Meter Meter = new(Name);

    /// <summary><c>adan.train.step.duration</c>: wall time of one optimizer step, including its micro-batches.</summary>
    public static readonly Histogram<double> StepDuration =
        Meter.CreateHistogram<double>("adan.train.step.duration", "s", "Wall time of one optimizer step.");

    /// <summary><c>adan.train.samples</c>: training samples this rank has processed.</summary>
    public static readonly Counter<long> Samples =
        Meter.CreateCounter<long>("adan.train.samples", "{sample}", "Training samples processed by this rank.");

    /// <summary><c>adan.train.skipped_steps</c>: optimizer steps this rank skipped because the averaged gradients were not finite.</summary>
    public static readonly Counter<long> SkippedSteps =
        Meter.CreateCounter<long>("adan.train.skipped_steps", "{step}", "Optimizer steps skipped for non-finite gradients.");

    /// <summary><c>adan.train.loss</c>: the latest training loss.</summary>
    public static readonly Gauge<double> Loss =
        Meter.CreateGauge<double>("adan.train.loss", description: "Latest training loss.");

    /// <summary><c>adan.train.lr</c>: the latest learning rate.</summary>
    public static readonly Gauge<double> Lr =
        Meter.CreateGauge<double>("adan.train.lr", description: "Latest learning rate.");

    /// <summary><c>adan.comm.bytes</c>: bytes this rank sent into collectives, tagged by collective.</summary>
    public static readonly Counter<long> CommBytes =
        Meter.CreateCounter<long>("adan.comm.bytes", "By", "Bytes passed to collectives by this rank.");

    /// <summary><c>adan.comm.duration</c>: wall time of one collective, tagged by collective.</summary>
    public static readonly Histogram<double> CommDuration =
        Meter.CreateHistogram<double>("adan.comm.duration", "s", "Wall time of one collective.");

    /// <summary><c>adan.optimizer.state.bytes</c>: optimizer state held by this rank (its shard under ZeRO).</summary>
    public static readonly Gauge<double> GradientNoiseScale =
        Meter.CreateGauge<double>("adan.train.gradient_noise_scale", description: "Moving estimate of B_simple, the gradient noise scale (critical batch size), in samples.");

    /// <summary>Optimizer state held by this rank.</summary>
    public static readonly Gauge<long> OptimizerStateBytes =
        Meter.CreateGauge<long>("adan.optimizer.state.bytes", "By", "Optimizer state held by this rank.");

    /// <summary><c>adan.checkpoint.duration</c>: wall time to write and commit one checkpoint.</summary>
    public static readonly Histogram<double> CheckpointDuration =
        Meter.CreateHistogram<double>("adan.checkpoint.duration", "s", "Wall time to write and commit a checkpoint.");
}
