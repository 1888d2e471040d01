using System.Globalization;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Sampling;
using Adan.Sharded.Schedules;
using Adan.Sharded.Training.Config;

namespace Adan.Sharded.Training;

/// <summary>
/// A run's learning rate: the schedule's shape (<see cref="Record"/>, what checkpoints store), the schedule for this
/// run's global batch (<see cref="Curve"/>), and where this run starts on it in samples, so that the step at any
/// sample count gets the learning rate the original run had there, whatever the world size or global batch.
/// </summary>
/// <param name="Record">The schedule's shape, recorded in every checkpoint.</param>
/// <param name="Curve">The schedule evaluated for this run (from the coordinator when the job has one).</param>
/// <param name="StartStep">The optimizer step the run starts at.</param>
/// <param name="StartSamples">Samples trained on before <paramref name="StartStep"/>, over every earlier run.</param>
/// <param name="GlobalBatch">This run's samples per optimizer step.</param>
internal sealed record TrainingSchedule(ScheduleRecord Record, LearningRateSchedule Curve, long StartStep, long StartSamples, long GlobalBatch)
{
    /// <summary>Samples trained on before the zero-based optimizer step <paramref name="step"/> of the run.</summary>
    public long SamplesBefore(long step) => checked(StartSamples + (step - StartStep) * GlobalBatch);

    /// <summary>The learning rate of the zero-based optimizer step <paramref name="step"/>.</summary>
    public double LearningRateAt(long step) => Curve.LearningRateAtSamples(SamplesBefore(step));

    /// <summary>
    /// The schedule of a run: for a fresh start the one its settings give (<see cref="ScheduleRecord.Fresh"/>); for a
    /// resume the checkpoint's shape, continued at the samples it had seen. Hyper-parameters that differ from the
    /// checkpoint's are written to <paramref name="output"/>, one line each, and refused unless allow_hparam_change
    /// is set; an allowed change of a schedule setting rebuilds the schedule from this run's settings, still positioned
    /// by the samples seen.
    /// </summary>
    /// <param name="config">This run's settings.</param>
    /// <param name="sampler">This rank's sampler: the global batch and the training-set size.</param>
    /// <param name="worldSize">This run's world size.</param>
    /// <param name="resume">The checkpoint the run resumes from, null for a fresh start.</param>
    /// <param name="output">Where the changes and the schedule's position are reported (rank 0's output; null elsewhere).</param>
    /// <exception cref="CheckpointException">Hyper-parameters differ and allow_hparam_change is not set, or the recorded schedule is invalid.</exception>
    public static TrainingSchedule Create(TrainConfig config, DistributedSampler sampler, int worldSize, ResumePlan? resume, TextWriter? output)
    {
        var fresh = ScheduleRecord.Fresh(config, sampler);
        if (resume is null)
        {
            return new TrainingSchedule(fresh, fresh.ToSchedule(worldSize, config.MicroBatch, config.Accumulation), 0, 0, sampler.GlobalBatch);
        }
        var recorded = CheckpointExtra.Of(resume.Manifest.Extra).Schedule(resume.Directory);
        var changes = HyperParameterChanges.Find(resume.Manifest, recorded, fresh, config, worldSize);
        if (changes.Count > 0)
        {
            output?.WriteLine($"hyper-parameters that differ from the checkpoint's ({changes.Count}):");
            foreach (var change in changes)
            {
                output?.WriteLine($"  {change}");
            }
            if (!config.AllowHparamChange)
            {
                throw new CheckpointException(HyperParameterChanges.Refusal(changes, resume.Directory));
            }
        }
        // A checkpoint written before schedules were recorded continues the schedule this run's settings give.
        var record = recorded is null || changes.Any(c => c.ReshapesSchedule) ? fresh : recorded;
        var schedule = new TrainingSchedule(record, record.ToSchedule(worldSize, config.MicroBatch, config.Accumulation), resume.StartStep,
            resume.SamplesSeen, sampler.GlobalBatch);
        if (changes.Count > 0)
        {
            output?.WriteLine(changes.Any(c => c.ReshapesSchedule)
                ? "allow_hparam_change=true: training on with this run's values; the learning-rate schedule is rebuilt from this run's settings"
                : "allow_hparam_change=true: training on with this run's values; the learning-rate schedule keeps the checkpoint's shape");
        }
        output?.WriteLine(schedule.Describe(recorded is null));
        return schedule;
    }

    /// <summary>One line: where on the schedule the run starts and the learning rate there.</summary>
    private string Describe(bool unrecorded)
    {
        var line = string.Create(CultureInfo.InvariantCulture,
            $"learning rate: continues at sample {StartSamples} of the schedule's {Record.TotalSamples} (warm-up {Record.WarmupSamples}), lr {LearningRateAt(StartStep):G6}");
        return unrecorded ? $"{line} (the checkpoint records no schedule: this run's settings size it)" : line;
    }
}
