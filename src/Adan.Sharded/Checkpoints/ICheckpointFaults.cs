namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Test seam of <see cref="CheckpointWriter"/>: kills a rank part-way through writing its shard, as a node failure
/// would, to show that a save that dies leaves the previous checkpoint the latest. Production passes none.
/// </summary>
/// <remarks>
/// A seam rather than an environment variable so that the library's behaviour depends only on what its caller passes:
/// the tests that need a dying rank construct the writer with a fault, and nothing a deployment sets can trigger one.
/// </remarks>
public interface ICheckpointFaults
{
    /// <summary>
    /// After how many bytes of its shard file <paramref name="rank"/> dies: the bytes written so far are made durable,
    /// then the process ends with <see cref="Environment.FailFast(string)"/>. Null: the rank writes its shard normally.
    /// </summary>
    /// <param name="rank">The writing rank.</param>
    /// <param name="shardBytes">The shard file's full size (header and five tensors).</param>
    long? KillAfterBytes(int rank, long shardBytes);
}
