namespace Adan.Sharded.DataParallel;

/// <summary>The collective that reduces a gradient bucket over the ranks.</summary>
public enum GradientReduction
{
    /// <summary>Every rank gets the sums of the whole bucket (replicated optimizers, ZeRO stage 0).</summary>
    AllReduce,

    /// <summary>Each rank gets the sums of the part of the bucket inside its own shard (ZeRO-1/2).</summary>
    ReduceScatter,
}
