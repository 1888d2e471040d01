namespace Adan.Sharded.Zero;

/// <summary>
/// What one optimizer adds to the <see cref="ShardedOptimizer"/> engine: its state names, how it clips, and its update
/// of the rank's shard. The engine owns everything else (reduction, statistics, skipping, gathering, checkpoints).
/// </summary>
/// <remarks>
/// A rule is bound to one engine: the engine calls <see cref="Bind"/> once, after allocating the state buffers named by
/// <see cref="StateNames"/>, then <see cref="Update"/> once per applied step. A rule keeps its math in a kernel
/// (<c>Optim/*Kernel.cs</c>, pure and tested alone) and only walks the shard's segments.
/// </remarks>
public interface IUpdateRule : IDisposable
{
    /// <summary>The optimizer's name in configs, logs and checkpoints (adan, lamb, adamw, sgd).</summary>
    string Name { get; }

    /// <summary>The options record every group must hold.</summary>
    Type OptionsType { get; }

    /// <summary>The names of the fp32 state buffers, as the reference names them; each covers the engine's state range.</summary>
    IReadOnlyList<string> StateNames { get; }

    /// <summary>Whether the rule can keep its state in <see cref="OptimizerStateMode.Bf16"/> and <see cref="OptimizerStateMode.EightBit"/>.</summary>
    bool SupportsLowPrecisionState { get; }

    /// <summary>
    /// The factor applied to the summed gradients of the step: <paramref name="scale"/> (1/(W·k), the averaging) combined
    /// with the rule's clipping at <paramref name="maxGradNorm"/> (0 = off) of the averaged gradients' global norm
    /// <paramref name="gradNorm"/>, in the reference's arithmetic.
    /// </summary>
    double GradientCoefficient(double scale, double gradNorm, double maxGradNorm, IReadOnlyList<ShardedGroup> groups);

    /// <summary>Binds the rule to its engine's shard (buffers, segments, kernel choice); called once.</summary>
    void Bind(ShardState shard);

    /// <summary>
    /// Updates the shard's parameters and state for one applied step: the groups' step counters are already incremented,
    /// the gradient is the unscaled sum and <paramref name="gradientCoefficient"/> the factor to apply to it.
    /// </summary>
    /// <remarks>Collective when the rule calls <see cref="ShardState.ReduceParameterSums"/>: then every rank must call.</remarks>
    void Update(double gradientCoefficient);

    /// <summary>
    /// The state buffers a restart of the moving averages keeps (<see cref="ShardedOptimizer.Restart"/> zeroes the
    /// others): Adan's official <c>restart_opt()</c> keeps <c>neg_pre_grad</c>; the others keep none.
    /// </summary>
    IReadOnlyCollection<string> KeptOnRestart { get; }
}
