namespace Adan.Sharded.Checkpoints;

/// <summary>The outcome of checking one shard file.</summary>
/// <param name="Shard">The manifest's entry.</param>
/// <param name="Problem">What is wrong, naming the file; null when the file matches.</param>
public sealed record ShardVerification(CheckpointShard Shard, string? Problem)
{
    /// <summary>True when size, checksum and header match the manifest.</summary>
    public bool Ok => Problem is null;
}
