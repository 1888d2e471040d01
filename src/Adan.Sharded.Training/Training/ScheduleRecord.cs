using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Sampling;
using Adan.Sharded.Schedules;
using Adan.Sharded.Training.Config;

namespace Adan.Sharded.Training;

/// <summary>
/// The shape of a run's learning-rate schedule as its checkpoints record it: the settings that made it (under their
/// config keys) and the warm-up and length in samples, so that a resumed run at any world size or global batch
/// continues the same curve.
/// </summary>
/// <remarks>
/// A fresh run sizes the schedule from its configured epochs (<see cref="Fresh"/>); <c>max_steps</c> only stops a
/// run and never shortens the schedule, so a run continued with a larger <c>max_steps</c> carries on along the curve
/// instead of warming up again. A resumed run keeps the recorded shape; only an explicitly changed schedule key
/// (allowed with <c>allow_hparam_change</c>) rebuilds it from the new settings.
/// </remarks>
/// <param name="Lr">The chosen optimizer's <c>lr</c> (e.g. <c>adan.lr</c>): the peak learning rate at <paramref name="BaseBatch"/>.</param>
/// <param name="LrPolicy">The <c>lr_policy</c> key: how the peak scales with the global batch.</param>
/// <param name="BaseBatch">The <c>base_batch</c> key: the global batch <paramref name="Lr"/> was tuned for.</param>
/// <param name="Schedule">The <c>schedule</c> key: the decay after the warm-up.</param>
/// <param name="MinLr">The <c>min_lr</c> key: where the cosine ends.</param>
/// <param name="WarmupSteps">The <c>warmup_steps</c> key as configured (the warm-up may be shorter in a short run).</param>
/// <param name="Epochs">The <c>epochs</c> key: passes over the training set the schedule spans.</param>
/// <param name="TrainSamples">Samples in the training set (after <c>train_subset</c>).</param>
/// <param name="ScheduleBatch">Samples of one schedule step: the global batch of the run that sized the schedule.</param>
/// <param name="WarmupSamples">Samples of linear warm-up (a whole number of schedule steps).</param>
/// <param name="TotalSamples">Samples of the whole schedule; the cosine reaches <paramref name="MinLr"/> here.</param>
internal sealed record ScheduleRecord(
    double Lr,
    LearningRateScaling LrPolicy,
    long BaseBatch,
    LearningRateDecay Schedule,
    double MinLr,
    long WarmupSteps,
    long Epochs,
    long TrainSamples,
    long ScheduleBatch,
    long WarmupSamples,
    long TotalSamples)
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>
    /// The schedule of a run that starts from scratch with <paramref name="sampler"/>'s global batch: the configured
    /// epochs long, whatever <c>max_steps</c> says; a schedule shorter than the configured warm-up warms up for all
    /// but its last step.
    /// </summary>
    public static ScheduleRecord Fresh(TrainConfig config, DistributedSampler sampler)
    {
        var totalSteps = Math.Max(1, config.Epochs * sampler.BatchesPerEpoch);
        var warmupSteps = Math.Min(config.WarmupSteps, totalSteps - 1);
        var batch = sampler.GlobalBatch;
        return new ScheduleRecord(config.OptimizerOptions().LearningRate, config.LrPolicy, config.BaseBatch, config.Schedule, config.MinLr, config.WarmupSteps, config.Epochs,
            sampler.DatasetSize, batch, checked(warmupSteps * batch), checked(totalSteps * batch));
    }

    /// <summary>
    /// The schedule for a run of <paramref name="worldSize"/> ranks × <paramref name="microBatch"/> ×
    /// <paramref name="accumulation"/>: this shape, with the peak scaled for that global batch by
    /// <see cref="LrPolicy"/>.
    /// </summary>
    public LearningRateSchedule ToSchedule(int worldSize, long microBatch, long accumulation) => new()
    {
        BaseLearningRate = Lr,
        BaseBatchSize = BaseBatch,
        Scaling = LrPolicy,
        WorldSize = worldSize,
        MicroBatchSize = microBatch,
        AccumulationSteps = accumulation,
        ScheduleBatchSize = ScheduleBatch,
        WarmupSteps = WarmupSamples / ScheduleBatch,
        Decay = Schedule,
        TotalSteps = TotalSamples / ScheduleBatch,
        MinLearningRate = MinLr,
    };

    /// <summary>The record as a JSON object of snake_case keys (enums as their config names).</summary>
    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, s_json)!.AsObject();

    /// <summary>Reads a record written by <see cref="ToJson"/>; null when <paramref name="json"/> is absent.</summary>
    /// <param name="json">The recorded object, or null.</param>
    /// <param name="source">The checkpoint, for error messages.</param>
    /// <exception cref="CheckpointException">The object is not a valid schedule record.</exception>
    public static ScheduleRecord? FromJson(JsonNode? json, string source)
    {
        if (json is null)
        {
            return null;
        }
        try
        {
            var record = json.Deserialize<ScheduleRecord>(s_json)!;
            if (record.ScheduleBatch < 1 || record.WarmupSamples < 0 || record.TotalSamples < record.WarmupSamples
                || record.WarmupSamples % record.ScheduleBatch != 0 || record.TotalSamples % record.ScheduleBatch != 0)
            {
                throw new JsonException(
                    $"schedule_batch {record.ScheduleBatch}, warmup_samples {record.WarmupSamples} and total_samples {record.TotalSamples} are not whole schedule steps");
            }
            return record;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new CheckpointException($"{source}: the recorded learning-rate schedule is not valid: {e.Message}", e);
        }
    }
}
