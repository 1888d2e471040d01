namespace Adan.Sharded.Checkpoints;

/// <summary>An open checkpoint, as <see cref="ICheckpointCatalog.BeginAsync"/> returns it to every rank.</summary>
/// <param name="Id">The catalogue's id (the step for <see cref="LocalCheckpointCatalog"/>).</param>
/// <param name="Step">The optimizer step it captures.</param>
/// <param name="Directory">Absolute directory the shards go into: <c>&lt;root&gt;/step-&lt;step:D10&gt;</c>.</param>
public sealed record CheckpointTicket(long Id, long Step, string Directory);
