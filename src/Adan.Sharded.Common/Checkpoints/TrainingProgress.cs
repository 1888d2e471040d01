using System.Text.Json.Nodes;
using Adan.Sharded.Sampling;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// What the training loop needs, besides parameters and optimizer state, to continue exactly where it stopped. The
/// checkpoint stores it verbatim in the manifest and hands it back on load; the trainer restores it.
/// </summary>
/// <param name="LearningRateStep">Position in the learning-rate schedule (the step the next learning rate is computed for).</param>
/// <param name="Sampler">The data sampler's position: the next (epoch, batch) to draw.</param>
/// <param name="RngSeeds">Named RNG seeds (e.g. <c>torch</c>, <c>sampler</c>, <c>dropout</c>).</param>
/// <param name="Extra">Free-form JSON the trainer fills (model name, config, ...); null is stored as <c>{}</c>.</param>
public sealed record TrainingProgress(
    long LearningRateStep,
    SamplerPosition Sampler,
    IReadOnlyDictionary<string, long> RngSeeds,
    JsonObject? Extra = null)
{
    /// <summary>
    /// The model's buffers as they are at the save (every rank the same), written by rank 0 into the checkpoint's
    /// hashed <c>buffers.safetensors</c>; empty when the model has none. Not part of what a load hands back: the
    /// trainer reads them from that file.
    /// </summary>
    public IReadOnlyList<ModuleBuffer> ModuleBuffers { get; init; } = [];
}
