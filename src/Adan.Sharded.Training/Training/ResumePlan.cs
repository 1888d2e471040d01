using System.Globalization;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Sampling;

namespace Adan.Sharded.Training;

/// <summary>
/// Where a resumed run continues: the optimizer step count, the samples trained on so far (the learning-rate schedule's
/// position), the sampler position and the last step, worked out from the checkpoint's manifest before training starts.
/// </summary>
/// <remarks>
/// The step count is the number of optimizer updates done, so it carries on from the checkpoint's. The sampler
/// position is kept in samples: a run resumed with another global batch (another world size at the same micro-batch)
/// continues the epoch at the first sample the saved run had not used, rounded down to a whole new batch, so it may see
/// up to one batch of samples again but never skips any. The run then ends where the configured epochs end. The samples
/// trained on count those seen again too: the schedule moves with the training done, not with the epoch.
/// </remarks>
/// <param name="Directory">The checkpoint.</param>
/// <param name="Manifest">Its manifest, as every rank read it.</param>
/// <param name="StartStep">Optimizer steps done.</param>
/// <param name="SamplesSeen">Samples trained on over all ranks up to the checkpoint.</param>
/// <param name="Position">Where this run's sampler continues.</param>
/// <param name="LastStep">Where the configured epochs end (before max_steps).</param>
/// <param name="Description">The line that says where the run resumed.</param>
internal sealed record ResumePlan(string Directory, CheckpointManifest Manifest, long StartStep, long SamplesSeen, SamplerPosition Position,
    long LastStep, string Description)
{
    /// <summary>Plans a resume from the checkpoint in <paramref name="directory"/> with this run's sampler (one batch per optimizer step).</summary>
    /// <param name="directory">The committed checkpoint.</param>
    /// <param name="manifest">Its manifest.</param>
    /// <param name="sampler">This run's sampler (its batches per epoch are in this run's global batch).</param>
    /// <param name="epochs">Configured epochs; the plan's last step is where they end (the caller applies max_steps).</param>
    public static ResumePlan Create(string directory, CheckpointManifest manifest, DistributedSampler sampler, long epochs)
    {
        var saved = manifest.Sampler;
        var globalBatch = sampler.GlobalBatch;
        var extra = CheckpointExtra.Of(manifest.Extra);
        // A checkpoint that does not record its global batch is taken to have this run's per-rank batch at its world size.
        var savedGlobalBatch = extra.GlobalBatch ?? (long)manifest.WorldSize * sampler.BatchSize;
        // One that does not record the samples seen ran at that global batch all along.
        var samplesSeen = extra.SamplesSeen ?? manifest.Step * savedGlobalBatch;
        var samples = saved.Batch * savedGlobalBatch;
        var batch = samples / globalBatch;
        var position = batch >= sampler.BatchesPerEpoch ? new SamplerPosition(saved.Epoch + 1, 0) : new SamplerPosition(saved.Epoch, batch);
        var description = string.Create(CultureInfo.InvariantCulture,
            $"resumed from {directory} at step {manifest.Step} (epoch {saved.Epoch + 1}, batch {saved.Batch})");
        if (savedGlobalBatch != globalBatch)
        {
            var where = position.Epoch == saved.Epoch
                ? $"epoch {saved.Epoch + 1} continues at sample {batch * globalBatch} of the {samples} used ({samples - batch * globalBatch} seen again) as batch {position.Batch}"
                : $"epoch {saved.Epoch + 1} is done (what is left of it is less than a batch) and epoch {position.Epoch + 1} starts";
            description = string.Create(CultureInfo.InvariantCulture,
                $"resumed from {directory} at step {manifest.Step}: it was saved with a global batch of {savedGlobalBatch}, this run has {globalBatch}, so {where}");
        }
        var remaining = epochs * sampler.BatchesPerEpoch - (position.Epoch * sampler.BatchesPerEpoch + position.Batch);
        return new ResumePlan(directory, manifest, manifest.Step, samplesSeen, position, manifest.Step + Math.Max(0, remaining), description);
    }
}
