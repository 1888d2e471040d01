using System.Diagnostics;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// Records the <see cref="WorkerTelemetry"/> instruments for one rank; every measurement carries
/// the low-cardinality tag <c>rank</c>, collectives also <c>collective</c>.
/// </summary>
internal sealed class WorkerMetrics
{
    private readonly TagList _rankTags;

    /// <summary>Creates the recorder for <paramref name="rank"/>.</summary>
    public WorkerMetrics(int rank)
    {
        Rank = rank;
        _rankTags = new TagList { { "rank", rank } };
    }

    /// <summary>The rank tag value.</summary>
    public int Rank { get; }

    /// <summary>Records a finished optimizer step; <paramref name="applied"/> is false when the optimizer skipped its update (non-finite gradients).</summary>
    public void Step(TimeSpan duration, long samples, double loss, double lr, bool applied)
    {
        WorkerTelemetry.StepDuration.Record(duration.TotalSeconds, _rankTags);
        WorkerTelemetry.Samples.Add(samples, _rankTags);
        WorkerTelemetry.Loss.Record(loss, _rankTags);
        WorkerTelemetry.Lr.Record(lr, _rankTags);
        if (!applied)
        {
            WorkerTelemetry.SkippedSteps.Add(1, _rankTags);
        }
    }

    /// <summary>Records one collective, e.g. <c>reduce_scatter</c>, <c>all_gather</c>, <c>all_reduce</c>.</summary>
    public void Collective(string collective, long bytes, TimeSpan duration)
    {
        var tags = new TagList { { "rank", Rank }, { "collective", collective } };
        WorkerTelemetry.CommBytes.Add(bytes, tags);
        WorkerTelemetry.CommDuration.Record(duration.TotalSeconds, tags);
    }

    /// <summary>Records the optimizer state this rank holds.</summary>
    public void NoiseScale(double bSimple) => WorkerTelemetry.GradientNoiseScale.Record(bSimple, _rankTags);

    /// <summary>Records the optimizer state this rank holds.</summary>
    public void OptimizerState(long bytes) => WorkerTelemetry.OptimizerStateBytes.Record(bytes, _rankTags);

    /// <summary>Records a committed checkpoint.</summary>
    public void Checkpoint(TimeSpan duration) => WorkerTelemetry.CheckpointDuration.Record(duration.TotalSeconds, _rankTags);
}
