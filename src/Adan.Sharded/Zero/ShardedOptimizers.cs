using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;

namespace Adan.Sharded.Zero;

/// <summary>
/// Builds a <see cref="ShardedOptimizer"/> from options records, picking the rule from their type through
/// <see cref="OptimizerRegistry"/>: <c>ShardedOptimizers.Create(flat, collective, new AdamWGroupOptions { LearningRate = 3e-4 })</c>.
/// </summary>
public static class ShardedOptimizers
{
    /// <summary>One group holding every parameter.</summary>
    /// <param name="flat">The flat parameters, laid out for the job's world size.</param>
    /// <param name="collective">The ranks' collective.</param>
    /// <param name="options">The group's options; their type picks the optimizer.</param>
    /// <param name="maxGradNorm">Global-norm clipping threshold (0 = off); null takes the options'.</param>
    /// <param name="stage">ZeRO stage 0, 1 or 2.</param>
    /// <param name="maxConsecutiveSkips">Consecutive non-finite steps tolerated.</param>
    /// <param name="kernel">Fused CPU kernel, tensor operations, or Auto.</param>
    /// <param name="sync">The gradient reduction the steps start with (<see cref="ShardedOptimizer.GradientSync"/>), or null to let the engine build one.</param>
    /// <param name="measureGradientNoise">Measure each step's <see cref="ShardedOptimizer.LastNoiseSample"/>.</param>
    /// <param name="stateMode">How the state is stored (<see cref="OptimizerStateMode"/>).</param>
    /// <param name="stateSeed">The seed that keys the stochastic rounding of low-precision state.</param>
    public static ShardedOptimizer Create(FlatParameters flat, ICollective collective, IGroupOptions options, double? maxGradNorm = null,
        ZeroStage stage = ZeroStage.OptimizerState, int maxConsecutiveSkips = 10, UpdateKernel kernel = UpdateKernel.Auto,
        GradientSync? sync = null, bool measureGradientNoise = true, OptimizerStateMode stateMode = OptimizerStateMode.Fp32, long stateSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(options);
        return new ShardedOptimizer(flat, collective, OptimizerRegistry.ForOptions(options.GetType()).CreateRule(),
            [(options, Enumerable.Range(0, flat.Parameters.Count).ToArray())], maxGradNorm, stage, maxConsecutiveSkips, kernel, sync,
            measureGradientNoise, stateMode, stateSeed);
    }

    /// <summary>Parameter groups given as (options, indices into the flat layout); the options' type picks the optimizer.</summary>
    /// <param name="flat">The flat parameters, laid out for the job's world size.</param>
    /// <param name="collective">The ranks' collective.</param>
    /// <param name="groups">The groups; each parameter in at most one.</param>
    /// <param name="maxGradNorm">Global-norm clipping threshold (0 = off); null takes the first group's.</param>
    /// <param name="stage">ZeRO stage 0, 1 or 2.</param>
    /// <param name="maxConsecutiveSkips">Consecutive non-finite steps tolerated.</param>
    /// <param name="kernel">Fused CPU kernel, tensor operations, or Auto.</param>
    /// <param name="sync">The gradient reduction the steps start with (<see cref="ShardedOptimizer.GradientSync"/>), or null to let the engine build one.</param>
    /// <param name="measureGradientNoise">Measure each step's <see cref="ShardedOptimizer.LastNoiseSample"/>.</param>
    public static ShardedOptimizer Create<TOptions>(FlatParameters flat, ICollective collective, IEnumerable<(TOptions Options, int[] Parameters)> groups,
        double? maxGradNorm = null, ZeroStage stage = ZeroStage.OptimizerState, int maxConsecutiveSkips = 10, UpdateKernel kernel = UpdateKernel.Auto,
        GradientSync? sync = null, bool measureGradientNoise = true)
        where TOptions : IGroupOptions
    {
        ArgumentNullException.ThrowIfNull(groups);
        var list = groups.Select(g => ((IGroupOptions)g.Options, g.Parameters)).ToArray();
        var type = list.Length > 0 && list[0].Item1 is { } first ? first.GetType() : typeof(TOptions);
        return new ShardedOptimizer(flat, collective, OptimizerRegistry.ForOptions(type).CreateRule(), list, maxGradNorm, stage, maxConsecutiveSkips, kernel,
            sync, measureGradientNoise);
    }
}
