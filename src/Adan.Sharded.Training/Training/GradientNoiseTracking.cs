using Adan.Sharded.Statistics;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Sharded.Training;

/// <summary>
/// The trainer's side of the gradient noise scale: feeds each applied step's <see cref="NoiseSample"/> to a
/// <see cref="GradientNoiseScale"/> whose batches and population come from the run (b = micro-batches of the small
/// gradient × micro_batch, B likewise, N the training set sampled without replacement), closes an epoch when the
/// sampler starts the next, and gives the live value and the summary. Identical on every rank (the samples are).
/// </summary>
internal sealed class GradientNoiseTracking(int microBatch, long trainingSamples, bool measured, string? notMeasuredReason)
{
    private GradientNoiseScale? _scale;
    private int _epoch;

    /// <summary>The moving B_simple for the progress line, null before there is a positive one.</summary>
    public double? Moving => _scale?.MovingBSimple;

    /// <summary>Whether the run measures the noise scale at all.</summary>
    public bool Measured => measured;

    /// <summary>Adds one step's sample (null: skipped or not measured), first closing the previous epoch if this step began a new one.</summary>
    public void Observe(NoiseSample? sample, int epoch)
    {
        if (_scale is not null && epoch != _epoch && _scale.Steps > 0)
        {
            _scale.EndEpoch();
        }
        _epoch = epoch;
        if (sample is not { } s)
        {
            return;
        }
        _scale ??= new GradientNoiseScale((long)s.SmallMicroBatches * microBatch, (long)s.BigMicroBatches * microBatch, trainingSamples);
        _scale.Add(s.SmallSquaredNorm, s.BigSquaredNorm);
    }

    /// <summary>The step record's noise fields.</summary>
    public StepMetrics Annotate(StepMetrics record) => _scale is null
        ? record
        : record with
        {
            BSmall = _scale.SmallBatch,
            BBig = _scale.BigBatch,
            TraceSigma = _scale.MovingTraceSigma,
            GradSqNorm = _scale.MovingGradSqNorm,
            BSimple = _scale.MovingBSimple,
        };

    /// <summary>The summary: the run's and every epoch's estimate (the current epoch closed), or why there is none; null when not measured.</summary>
    public GradientNoiseSummary? Summary()
    {
        if (!measured)
        {
            return null;
        }
        if (_scale is null)
        {
            return new GradientNoiseSummary(null, [], notMeasuredReason ?? "no step was applied, so no gradient was measured");
        }
        var epochs = _scale.Epochs.ToList();
        if (_scale.CurrentEpoch() is { Steps: > 0 } open)
        {
            epochs.Add(open);
        }
        var run = _scale.Result();
        return new GradientNoiseSummary(run, epochs, run.Reason);
    }
}
