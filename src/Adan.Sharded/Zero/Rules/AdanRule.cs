using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// Adan (Xie et al.) as an update rule of the <see cref="ShardedOptimizer"/>: the official implementation's four state
/// buffers, its clipping (coefficient max_grad_norm / (‖g‖ + ε of the last group), capped at 1), and the update of
/// <see cref="AdanKernel"/> (fused CPU kernel) or <see cref="AdanTensorStep"/> (tensor operations) on each segment.
/// </summary>
public sealed class AdanRule : UpdateRule<AdanGroupOptions>
{
    private AdanScalars[] _scalars = [];
    private bool[] _firstStep = [];
    private AdanTensorStep? _tensorStep;

    /// <summary>The official names of the four state buffers.</summary>
    public static IReadOnlyList<string> Names { get; } = ["exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"];

    /// <inheritdoc />
    public override string Name => "adan";

    /// <inheritdoc />
    public override IReadOnlyList<string> StateNames => Names;

    /// <inheritdoc />
    public override IReadOnlyCollection<string> KeptOnRestart { get; } = ["neg_pre_grad"];

    /// <inheritdoc />
    public override double GradientCoefficient(double scale, double gradNorm, double maxGradNorm, IReadOnlyList<ShardedGroup> groups)
    {
        // The official code divides by the norm plus the ε of the last group it looped over.
        var clip = maxGradNorm > 0 ? Math.Min(1.0, maxGradNorm / (gradNorm + groups[^1].OptionsAs<AdanGroupOptions>().Eps)) : 1.0;
        return clip * scale;
    }

    /// <inheritdoc />
    protected override void OnBind(ShardState shard)
    {
        _scalars = new AdanScalars[shard.Groups.Count];
        _firstStep = new bool[shard.ParameterCount];
        if (!shard.Fused)
        {
            _tensorStep = new AdanTensorStep(shard.Parameters, shard.Gradient, shard.State("exp_avg"), shard.State("exp_avg_sq"),
                shard.State("exp_avg_diff"), shard.State("neg_pre_grad"), shard.Segments);
        }
    }

    /// <inheritdoc />
    protected override void Prepare(ShardState shard, double gradientCoefficient)
    {
        for (var g = 0; g < _scalars.Length; g++)
        {
            var o = Options(shard, g);
            _scalars[g] = new AdanScalars(o.LearningRate, o.Beta1, o.Beta2, o.Beta3, o.Eps, o.WeightDecay, o.NoProx, shard.Groups[g].Step, gradientCoefficient);
        }
    }

    /// <inheritdoc />
    protected override void TensorUpdate(ShardState shard, double gradientCoefficient)
    {
        for (var i = 0; i < _firstStep.Length; i++)
        {
            _firstStep[i] = FirstStep(shard, i);
        }
        _tensorStep!.Run(gradientCoefficient, _scalars, shard.HadGradient, _firstStep);
    }

    /// <inheritdoc />
    protected override void FusedUpdate(ShardState shard, double gradientCoefficient)
    {
        var grad = TensorMemory.AsFloatMemory(shard.Gradient, "gradient shard");
        var param = TensorMemory.AsFloatMemory(shard.Parameters, "parameter shard");
        var m = TensorMemory.AsFloatMemory(shard.State("exp_avg"), "exp_avg");
        var v = TensorMemory.AsFloatMemory(shard.State("exp_avg_sq"), "exp_avg_sq");
        var d = TensorMemory.AsFloatMemory(shard.State("exp_avg_diff"), "exp_avg_diff");
        var n = TensorMemory.AsFloatMemory(shard.State("neg_pre_grad"), "neg_pre_grad");
        foreach (var s in shard.Segments)
        {
            if (!shard.HadGradient[s.Parameter])
            {
                continue;
            }
            var (start, length) = (s.LocalStart, s.Length);
            AdanKernel.FusedStep(param.Slice(start, length), grad.Slice(start, length), m.Slice(start, length), v.Slice(start, length),
                d.Slice(start, length), n.Slice(start, length), _scalars[s.Group], FirstStep(shard, s.Parameter), AdanKernel.Threads);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _tensorStep?.Dispose();

    // neg_pre_grad is meaningless until the parameter has had a gradient, and after a restart the group starts again.
    private static bool FirstStep(ShardState shard, int parameter)
    {
        var group = shard.GroupOfParameter[parameter];
        return group >= 0 && (shard.Groups[group].Step == 1 || !shard.HasHadGradient[parameter]);
    }
}
