using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;

namespace Adan.Sharded.Training;

/// <summary>
/// Measures a run's peak gradient memory for <c>summary.json</c> (<c>peak_gradient_bytes</c>): the most bytes of the
/// flat gradient buffer resident at once (<c>mincore</c>, <see cref="FlatParameters.TrackResidentGradientPeak"/>:
/// sampled before every release of pages and at the step's start and end) during the run's second to
/// <see cref="LastSampledStep"/>-th steps, the largest over the ranks.
/// </summary>
/// <remarks>
/// The first step is left out: it starts with the whole buffer resident from its allocation, so it shows what every
/// stage holds then, not what a step needs. Later steps are left out because a sample costs one <c>mincore</c> over
/// the whole buffer per released bucket; a step's gradient memory does not change from step to step. Off the CPU, or
/// where pages cannot be counted, there is nothing to measure and the result is null.
/// </remarks>
internal sealed class GradientPeakProbe
{
    /// <summary>The last step (counted from 1 at the run's first step, after a resume too) that is sampled.</summary>
    public const int LastSampledStep = 6;

    private readonly FlatParameters _flat;
    private readonly long _firstStep;
    private readonly bool _measurable;
    private long _peak = -1;

    /// <summary>Measures <paramref name="flat"/>'s gradients in the run that starts at step <paramref name="firstStep"/>.</summary>
    public GradientPeakProbe(FlatParameters flat, long firstStep)
    {
        _flat = flat;
        _firstStep = firstStep;
        _measurable = flat.Gradients.device_type == TorchSharp.DeviceType.CPU && PageMemory.Supported;
    }

    /// <summary>This rank's peak so far (null before a sampled step has ended, or when not measurable).</summary>
    public long? Peak => _peak >= 0 ? _peak : null;

    /// <summary>Call before step <paramref name="step"/> (0-based, the trainer's) does anything to the gradients.</summary>
    public void BeforeStep(long step)
    {
        if (!Sampled(step))
        {
            return;
        }
        _flat.TrackResidentGradientPeak = true;
        _flat.ResetResidentGradientPeak();
        _flat.SampleResidentGradients();
    }

    /// <summary>Call once step <paramref name="step"/>'s optimizer step has returned.</summary>
    public void AfterStep(long step)
    {
        if (!Sampled(step))
        {
            return;
        }
        _flat.SampleResidentGradients();
        _peak = Math.Max(_peak, _flat.PeakResidentGradientBytes);
        if (step - _firstStep + 1 == LastSampledStep)
        {
            _flat.TrackResidentGradientPeak = false;
        }
    }

    /// <summary>The largest peak over the ranks (null when no rank measured one).</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public long? MaxOverRanks(ICollective collective)
    {
        Span<long> peak = [_peak];
        collective.AllReduce(peak, ReduceOp.Max);
        return peak[0] >= 0 ? peak[0] : null;
    }

    private bool Sampled(long step)
    {
        var n = step - _firstStep + 1;
        return _measurable && n >= 2 && n <= LastSampledStep;
    }
}
