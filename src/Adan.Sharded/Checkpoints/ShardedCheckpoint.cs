using Adan.Sharded.Collectives;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// One-call save and load of a <see cref="ShardedOptimizer"/> run as a sharded checkpoint, for callers that need no fault
/// injection: the protocol is <see cref="CheckpointWriter"/>'s, the loading and resharding <see cref="CheckpointReader"/>'s.
/// </summary>
public static class ShardedCheckpoint
{
    /// <summary>Saves the run at optimizer step <paramref name="step"/> and returns the committed manifest on every rank.</summary>
    /// <param name="catalog">Where checkpoints are opened and committed (local directory or coordinator).</param>
    /// <param name="adan">The optimizer; its <see cref="ShardedOptimizer.Flat"/> parameters are saved too.</param>
    /// <param name="collective">The job's collective (rank and world size).</param>
    /// <param name="step">Optimizer steps completed.</param>
    /// <param name="progress">The trainer's position (LR schedule, sampler, seeds, extra JSON), stored in the manifest.</param>
    /// <param name="cancellationToken">Cancels the catalogue calls.</param>
    /// <param name="staging">The run's host staging (see <see cref="HostStaging"/>); null: allocated for this save when needed.</param>
    /// <exception cref="CheckpointException">See <see cref="CheckpointWriter.SaveAsync"/>.</exception>
    /// <remarks>Collective: every rank must call. Blocks training until the checkpoint is committed (see <see cref="CheckpointWriter"/>).</remarks>
    public static Task<CheckpointManifest> SaveAsync(ICheckpointCatalog catalog, ShardedOptimizer adan, ICollective collective, long step,
        TrainingProgress progress, CancellationToken cancellationToken = default, HostStaging? staging = null) =>
        new CheckpointWriter(catalog, collective, staging: staging).SaveAsync(adan, step, progress, cancellationToken);

    /// <summary>Loads a checkpoint, saved at any world size, into <paramref name="adan"/> and returns its manifest.</summary>
    /// <param name="path">A checkpoint directory, or a root whose newest committed <c>step-*</c> is loaded.</param>
    /// <param name="adan">The freshly built optimizer over the model's flat parameters.</param>
    /// <param name="collective">The job's collective.</param>
    /// <param name="staging">The run's host staging (see <see cref="HostStaging"/>); null: allocated for this load when needed.</param>
    /// <exception cref="CheckpointException">See <see cref="CheckpointReader.Load"/>.</exception>
    /// <remarks>Collective: every rank must call.</remarks>
    public static CheckpointManifest Load(string path, ShardedOptimizer adan, ICollective collective, HostStaging? staging = null) =>
        new CheckpointReader(collective, staging).Load(path, adan);
}
