namespace Adan.Sharded.Zero;

/// <summary>Where one <see cref="ShardedAdan.Step"/> spent its time on this rank.</summary>
/// <param name="Reduce">Reduce-scatter (ZeRO-1/2) or all-reduce (stage 0) of the gradients.</param>
/// <param name="Statistics">Σ g² of the shard, the finiteness check and the one small all-reduce.</param>
/// <param name="Update">The fused Adan update of the shard.</param>
/// <param name="AllGather">All-gather of the parameters (zero for stage 0).</param>
public readonly record struct StepTimings(TimeSpan Reduce, TimeSpan Statistics, TimeSpan Update, TimeSpan AllGather)
{
    /// <summary>The whole step.</summary>
    public TimeSpan Total => Reduce + Statistics + Update + AllGather;
}
