using System.Globalization;
using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Schedules;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;

namespace Adan.Sharded.Training;

/// <summary>
/// Finds the hyper-parameters a resumed run would silently change: the optimizer, its options and clipping (each
/// saved group's options against this run's group of the same index, so that a group without weight decay is no
/// change), the global batch, the sampler's order (<c>shuffle</c>), and the learning-rate schedule's settings (from its <see cref="ScheduleRecord"/>). An
/// optimizer's keys are named as its section spells them (<c>adan.betas</c>).
/// </summary>
/// <remarks>
/// World size, micro-batch and accumulation are not hyper-parameters by themselves: the checkpoint reshards to any
/// world size, and only their product, the global batch, changes the optimisation. The schedule's length is compared
/// through <c>epochs</c> and the training-set size only for a cosine decay, the one schedule it shapes. What a
/// checkpoint does not record (an older one has no schedule or global batch) is not compared, nor are groups beyond
/// the shorter list: other groups (<c>no_decay_bias_norm</c> changed) are refused by the checkpoint reader, whatever
/// <c>allow_hparam_change</c> says, since the state could not be restored into them.
/// </remarks>
internal static class HyperParameterChanges
{
    /// <summary>The changes, in config order; empty when this run continues the checkpoint's settings.</summary>
    /// <param name="manifest">The checkpoint's manifest.</param>
    /// <param name="recorded">The checkpoint's schedule record, null when it has none.</param>
    /// <param name="current">The schedule this run's settings give a fresh run.</param>
    /// <param name="config">This run's settings.</param>
    /// <param name="worldSize">This run's world size.</param>
    public static IReadOnlyList<HyperParameterChange> Find(CheckpointManifest manifest, ScheduleRecord? recorded, ScheduleRecord current,
        TrainConfig config, int worldSize)
    {
        var changes = new List<HyperParameterChange>();
        void Compare<T>(string name, T checkpoint, T now, bool reshapesSchedule = false)
        {
            if (!EqualityComparer<T>.Default.Equals(checkpoint, now))
            {
                changes.Add(new HyperParameterChange(name, ConfigBinder.Format(checkpoint), ConfigBinder.Format(now), reshapesSchedule));
            }
        }

        var optimizer = manifest.Optimizer;
        var name = config.Optimizer;
        Compare("optimizer", optimizer.Name, name);
        if (optimizer.Name == name)
        {
            // This run's groups from the checkpoint's layout, which a resume must match: the groups pair up by index.
            var groups = ParameterGroups.Of(config, manifest.Layout.Parameters.Select(e => (e.Name, e.Shape)));
            for (var g = 0; g < Math.Min(groups.Count, optimizer.Groups.Length); g++)
            {
                var now = OptimizerSections.ToJson(groups[g].Options);
                // The learning rate is the schedule's, compared below; max_grad_norm is the optimizer's, compared once.
                foreach (var (key, value) in now.Where(p => p.Key is not ("lr" or "max_grad_norm")))
                {
                    var saved = optimizer.Groups[g].Options?[key];
                    if (saved is not null && !JsonNode.DeepEquals(saved, value))
                    {
                        changes.Add(new HyperParameterChange($"{name}.{key}", saved.ToJsonString(), value?.ToJsonString() ?? "null", ReshapesSchedule: false));
                    }
                }
            }
            Compare($"{name}.max_grad_norm", optimizer.MaxGradNorm, config.OptimizerOptions().MaxGradNorm);
        }
        // A fresh schedule is counted in this run's global batch.
        var globalBatch = current.ScheduleBatch;
        var extra = CheckpointExtra.Of(manifest.Extra);
        if (extra.GlobalBatch is { } savedBatch && savedBatch != globalBatch)
        {
            changes.Add(new HyperParameterChange("global_batch", ConfigBinder.Format(savedBatch),
                string.Create(CultureInfo.InvariantCulture, $"{globalBatch} ({worldSize} rank(s) × micro_batch {config.MicroBatch} × accumulation {config.Accumulation})"),
                ReshapesSchedule: false));
        }
        // The sampler's position means other samples in another order: the rest of the epoch would repeat some and skip others.
        if (extra.Shuffle is { } savedShuffle)
        {
            Compare("shuffle", savedShuffle, config.Shuffle);
        }
        if (recorded is not null)
        {
            Compare($"{name}.lr", recorded.Lr, current.Lr, reshapesSchedule: true);
            Compare("lr_policy", recorded.LrPolicy, current.LrPolicy, reshapesSchedule: true);
            Compare("base_batch", recorded.BaseBatch, current.BaseBatch, reshapesSchedule: true);
            Compare("warmup_steps", recorded.WarmupSteps, current.WarmupSteps, reshapesSchedule: true);
            Compare("schedule", recorded.Schedule, current.Schedule, reshapesSchedule: true);
            Compare("min_lr", recorded.MinLr, current.MinLr, reshapesSchedule: true);
            if (recorded.Schedule == LearningRateDecay.Cosine && current.Schedule == LearningRateDecay.Cosine)
            {
                Compare("epochs", recorded.Epochs, current.Epochs, reshapesSchedule: true);
                Compare("train_samples", recorded.TrainSamples, current.TrainSamples, reshapesSchedule: true);
            }
        }
        // Several groups with the same change list it once.
        return [.. changes.Distinct()];
    }

    /// <summary>The one-line refusal of <paramref name="changes"/>: what differs and the two ways out.</summary>
    public static string Refusal(IReadOnlyList<HyperParameterChange> changes, string checkpoint) =>
        $"this run changes {changes.Count} hyper-parameter(s) of the checkpoint it resumes ({checkpoint}): " +
        string.Join("; ", changes.Select(c => $"{c.Name} {c.Checkpoint} -> {c.Current}")) +
        ". Set them back to the checkpoint's values, or add --set allow_hparam_change=true to continue with this run's values.";
}
