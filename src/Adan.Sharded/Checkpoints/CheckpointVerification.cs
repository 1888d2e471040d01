namespace Adan.Sharded.Checkpoints;

/// <summary>A checkpoint checked file by file (see <see cref="CheckpointVerifier"/>).</summary>
/// <param name="Directory">The checkpoint directory.</param>
/// <param name="Manifest">Its manifest.</param>
/// <param name="Shards">Every shard's outcome, by rank.</param>
public sealed record CheckpointVerification(string Directory, CheckpointManifest Manifest, IReadOnlyList<ShardVerification> Shards)
{
    /// <summary>True when every shard matches: the checkpoint is complete and loadable.</summary>
    public bool Ok => Shards.All(s => s.Ok);

    /// <summary>The first problem, or null.</summary>
    public string? FirstProblem => Shards.FirstOrDefault(s => !s.Ok)?.Problem;

    /// <summary>Parameter elements (padding excluded).</summary>
    public long ParameterCount => Manifest.Layout.Parameters.Sum(p => p.Numel);

    /// <summary>Bytes of all shard files together.</summary>
    public long Bytes => Manifest.Shards.Sum(s => s.Bytes);
}
