namespace Adan.Sharded.Zero;

/// <summary>Which implementation of a rule's update the <see cref="ShardedOptimizer"/> runs on the shard.</summary>
public enum UpdateKernel
{
    /// <summary>The fused CPU kernel when the flat buffers are in CPU memory, tensor operations elsewhere.</summary>
    Auto,

    /// <summary>In-place tensor operations on the shard, in the reference's order; any device.</summary>
    Reference,

    /// <summary>The fused CPU kernel; the flat buffers must be in CPU memory.</summary>
    Fused,
}
