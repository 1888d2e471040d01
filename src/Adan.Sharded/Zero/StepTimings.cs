namespace Adan.Sharded.Zero;

/// <summary>Where one <see cref="ShardedOptimizer.Step"/> spent its time on this rank.</summary>
/// <param name="Reduce">Reduce-scatter (ZeRO-1/2) or all-reduce (stage 0) of the gradients.</param>
/// <param name="Statistics">Σ g² of the shard, the finiteness check and the one small all-reduce.</param>
/// <param name="Update">The rule's update of the shard, without <paramref name="ParameterSums"/>.</param>
/// <param name="AllGather">All-gather of the parameters (zero for stage 0).</param>
/// <param name="ParameterSums">The all-reduce of per-parameter sums the rule asked for (LAMB's trust-ratio norms; zero for the others).</param>
public readonly record struct StepTimings(TimeSpan Reduce, TimeSpan Statistics, TimeSpan Update, TimeSpan AllGather, TimeSpan ParameterSums = default)
{
    /// <summary>The whole step.</summary>
    public TimeSpan Total => Reduce + Statistics + Update + AllGather + ParameterSums;

    /// <summary>The part spent in collectives the step waited for.</summary>
    public TimeSpan Communication => Reduce + Statistics + ParameterSums + AllGather;
}
