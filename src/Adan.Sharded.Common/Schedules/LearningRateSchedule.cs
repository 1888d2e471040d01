using System.Text.Json.Serialization;

namespace Adan.Sharded.Schedules;

/// <summary>
/// A learning-rate schedule as data: large-batch scaling, linear warm-up, then constant or cosine decay, positioned
/// by the samples seen so that a run resumed at another world size or global batch keeps the curve.
/// </summary>
/// <remarks>
/// <para>With <c>G = WorldSize · MicroBatchSize · AccumulationSteps</c> the global batch,
/// <c>peak = BaseLearningRate · scale(G / BaseBatchSize)</c>, <c>B</c> = <see cref="ScheduleBatch"/> (the global
/// batch the warm-up and total steps are counted in) and <c>x = samples seen / B</c> the position in those steps:</para>
/// <list type="bullet">
/// <item><description><c>x &lt; WarmupSteps</c>: <c>peak · min(1, (x + 1) / WarmupSteps)</c>, so the first
/// step already moves and the last warm-up step reaches the peak;</description></item>
/// <item><description>constant: <c>peak</c>;</description></item>
/// <item><description>cosine: with <c>p = min(1, (x − WarmupSteps) / (TotalSteps − WarmupSteps))</c>,
/// <c>MinLearningRate + (peak − MinLearningRate) · (1 + cos(π·p)) / 2</c>.</description></item>
/// </list>
/// <para>At <c>G = B</c> the position after <c>step</c> steps is <c>step</c> exactly, so the values are those of the
/// step formula, bit for bit. Everything is computed in double from the samples seen alone, so every rank (and a
/// resumed run, at any G) gets identical values without shared state.</para>
/// </remarks>
public sealed record LearningRateSchedule
{
    /// <summary>Learning rate at <see cref="BaseBatchSize"/>, before scaling. Default 1e-3.</summary>
    public double BaseLearningRate { get; init; } = 1e-3;

    /// <summary>Global batch size the base learning rate was tuned for. Default 256.</summary>
    public long BaseBatchSize { get; init; } = 256;

    /// <summary>How the learning rate scales with the global batch. Default <see cref="LearningRateScaling.None"/>.</summary>
    public LearningRateScaling Scaling { get; init; } = LearningRateScaling.None;

    /// <summary>Number of data-parallel ranks. Default 1.</summary>
    public int WorldSize { get; init; } = 1;

    /// <summary>Samples per rank per forward/backward pass. Default 32.</summary>
    public long MicroBatchSize { get; init; } = 32;

    /// <summary>Micro-batches accumulated per optimizer step. Default 1.</summary>
    public long AccumulationSteps { get; init; } = 1;

    /// <summary>
    /// Samples in one step of <see cref="WarmupSteps"/> and <see cref="TotalSteps"/>: the global batch of the run that
    /// sized the schedule. 0 (the default) means <see cref="GlobalBatchSize"/>. A run with another global batch moves
    /// through the schedule by <c>GlobalBatchSize / ScheduleBatchSize</c> of those steps per optimizer step.
    /// </summary>
    public long ScheduleBatchSize { get; init; }

    /// <summary>Steps (of <see cref="ScheduleBatch"/> samples) of linear warm-up; 0 disables warm-up. Default 0.</summary>
    public long WarmupSteps { get; init; }

    /// <summary>What follows the warm-up. Default <see cref="LearningRateDecay.Constant"/>.</summary>
    public LearningRateDecay Decay { get; init; } = LearningRateDecay.Constant;

    /// <summary>
    /// Length of the schedule in steps of <see cref="ScheduleBatch"/> samples; the cosine reaches
    /// <see cref="MinLearningRate"/> here. Default 0 (only valid for constant decay).
    /// </summary>
    public long TotalSteps { get; init; }

    /// <summary>Floor of the cosine decay. Default 0.</summary>
    public double MinLearningRate { get; init; }

    /// <summary>Samples per optimizer step over all ranks: <c>WorldSize · MicroBatchSize · AccumulationSteps</c>.</summary>
    public long GlobalBatchSize => checked(WorldSize * MicroBatchSize * AccumulationSteps);

    /// <summary>Samples in one schedule step: <see cref="ScheduleBatchSize"/>, or <see cref="GlobalBatchSize"/> when that is 0.</summary>
    [JsonIgnore]
    public long ScheduleBatch => ScheduleBatchSize > 0 ? ScheduleBatchSize : GlobalBatchSize;

    /// <summary>Samples of the warm-up: <see cref="WarmupSteps"/> · <see cref="ScheduleBatch"/>.</summary>
    [JsonIgnore]
    public long WarmupSamples => checked(WarmupSteps * ScheduleBatch);

    /// <summary>Samples of the whole schedule: <see cref="TotalSteps"/> · <see cref="ScheduleBatch"/>.</summary>
    [JsonIgnore]
    public long TotalSamples => checked(TotalSteps * ScheduleBatch);

    /// <summary>The scaled learning rate reached at the end of the warm-up.</summary>
    public double PeakLearningRate
    {
        get
        {
            var ratio = (double)GlobalBatchSize / BaseBatchSize;
            return Scaling switch
            {
                LearningRateScaling.None => BaseLearningRate,
                LearningRateScaling.Linear => BaseLearningRate * ratio,
                LearningRateScaling.Sqrt => BaseLearningRate * Math.Sqrt(ratio),
                _ => throw new ArgumentException($"Invalid scaling: {Scaling} (expected None, Linear or Sqrt)", nameof(Scaling)),
            };
        }
    }

    /// <summary>Checks every field and their combination.</summary>
    /// <exception cref="ArgumentException">A field is out of range; the message names it, its value and the valid range.</exception>
    public void Validate()
    {
        if (!double.IsFinite(BaseLearningRate) || BaseLearningRate <= 0)
        {
            throw new ArgumentException($"Invalid base learning rate: {BaseLearningRate} (must be finite and > 0)", nameof(BaseLearningRate));
        }
        if (BaseBatchSize < 1)
        {
            throw new ArgumentException($"Invalid base batch size: {BaseBatchSize} (must be >= 1)", nameof(BaseBatchSize));
        }
        if (!Enum.IsDefined(Scaling))
        {
            throw new ArgumentException($"Invalid scaling: {Scaling} (expected None, Linear or Sqrt)", nameof(Scaling));
        }
        if (WorldSize < 1)
        {
            throw new ArgumentException($"Invalid world size: {WorldSize} (must be >= 1)", nameof(WorldSize));
        }
        if (MicroBatchSize < 1)
        {
            throw new ArgumentException($"Invalid micro-batch size: {MicroBatchSize} (must be >= 1)", nameof(MicroBatchSize));
        }
        if (AccumulationSteps < 1)
        {
            throw new ArgumentException($"Invalid accumulation steps: {AccumulationSteps} (must be >= 1)", nameof(AccumulationSteps));
        }
        if (ScheduleBatchSize < 0)
        {
            throw new ArgumentException($"Invalid schedule batch size: {ScheduleBatchSize} (must be >= 0; 0 = the global batch)", nameof(ScheduleBatchSize));
        }
        if (WarmupSteps < 0)
        {
            throw new ArgumentException($"Invalid warm-up steps: {WarmupSteps} (must be >= 0)", nameof(WarmupSteps));
        }
        if (!Enum.IsDefined(Decay))
        {
            throw new ArgumentException($"Invalid decay: {Decay} (expected Constant or Cosine)", nameof(Decay));
        }
        if (TotalSteps < 0)
        {
            throw new ArgumentException($"Invalid total steps: {TotalSteps} (must be >= 0)", nameof(TotalSteps));
        }
        if (Decay == LearningRateDecay.Cosine && TotalSteps <= WarmupSteps)
        {
            throw new ArgumentException(
                $"Invalid total steps: {TotalSteps} (cosine decay needs total steps > warm-up steps {WarmupSteps})", nameof(TotalSteps));
        }
        var peak = PeakLearningRate;
        if (!double.IsFinite(MinLearningRate) || MinLearningRate < 0 || MinLearningRate > peak)
        {
            throw new ArgumentException($"Invalid min learning rate: {MinLearningRate} (must be in [0, {peak}], the peak)", nameof(MinLearningRate));
        }
    }

    /// <summary>The learning rate of a zero-based optimizer step of a run that started at sample 0 with this global batch.</summary>
    /// <param name="step">Zero-based optimizer step; steps past <see cref="TotalSteps"/> keep the final value.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    /// <exception cref="ArgumentException">The schedule is invalid (see <see cref="Validate"/>).</exception>
    public double LearningRateAt(long step)
    {
        if (step < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, $"Invalid step: {step} (must be >= 0)");
        }
        Validate();
        // At its own global batch a step is one schedule step; in double, so no step count overflows.
        return At(GlobalBatchSize == ScheduleBatch ? step : (double)step * GlobalBatchSize / ScheduleBatch);
    }

    /// <summary>The learning rate of the optimizer step that starts after <paramref name="samplesSeen"/> samples.</summary>
    /// <param name="samplesSeen">Samples the run has trained on before this step, over all ranks and every earlier
    /// (resumed) run; samples past <see cref="TotalSamples"/> keep the final value.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="samplesSeen"/> is negative.</exception>
    /// <exception cref="ArgumentException">The schedule is invalid (see <see cref="Validate"/>).</exception>
    public double LearningRateAtSamples(long samplesSeen)
    {
        if (samplesSeen < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(samplesSeen), samplesSeen, $"Invalid samples seen: {samplesSeen} (must be >= 0)");
        }
        Validate();
        // Exact when samplesSeen is a whole number of schedule steps (always, at G = ScheduleBatch).
        return At((double)samplesSeen / ScheduleBatch);
    }

    /// <summary>The learning rate at <paramref name="position"/> schedule steps (of <see cref="ScheduleBatch"/> samples) into a valid schedule.</summary>
    private double At(double position)
    {
        var peak = PeakLearningRate;
        if (position < WarmupSteps)
        {
            // Past the last warm-up step only when a larger global batch overshoots it.
            return position + 1 > WarmupSteps ? peak : peak * (position + 1) / WarmupSteps;
        }
        if (Decay == LearningRateDecay.Constant)
        {
            return peak;
        }
        var progress = Math.Min(1.0, (position - WarmupSteps) / (TotalSteps - WarmupSteps));
        return MinLearningRate + (peak - MinLearningRate) * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
