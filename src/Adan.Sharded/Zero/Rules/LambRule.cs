using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// LAMB (You et al., timm's variant) as an update rule of the <see cref="ShardedOptimizer"/>: timm's two state buffers,
/// its clipping (divide by max(1, ‖g‖ / max_grad_norm)), and the update in two phases around one all-reduce of the
/// per-parameter norms, so a parameter that straddles ranks gets its whole trust ratio.
/// </summary>
/// <remarks>
/// Phase (a) of <see cref="LambKernel"/> (or <see cref="LambTensorStep"/>) scales the gradient, updates the moments,
/// writes the update u into scratch and collects each parameter's partial Σp² and Σu² → <see cref="ShardState.ReduceParameterSums"/>
/// → phase (b) applies p −= lr·r·u with each parameter's trust ratio r.
/// </remarks>
public sealed class LambRule : UpdateRule<LambGroupOptions>
{
    private LambScalars[] _scalars = [];
    private double[] _norms = [];
    private double[] _trustRatios = [];
    private torch.Tensor? _update;
    private LambTensorStep? _tensorStep;

    /// <summary>The names of the two state buffers, as timm names them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["exp_avg", "exp_avg_sq"];

    /// <inheritdoc />
    public override string Name => "lamb";

    /// <inheritdoc />
    public override IReadOnlyList<string> StateNames => Names;

    /// <inheritdoc />
    public override double GradientCoefficient(double scale, double gradNorm, double maxGradNorm, IReadOnlyList<ShardedGroup> groups)
    {
        var divisor = maxGradNorm > 0 ? Math.Max(1.0, gradNorm / maxGradNorm) : 1.0;
        return scale / divisor;
    }

    /// <inheritdoc />
    protected override void OnBind(ShardState shard)
    {
        _scalars = new LambScalars[shard.Groups.Count];
        _norms = new double[2 * shard.ParameterCount];
        _trustRatios = new double[shard.ParameterCount];
        _update = torch.zeros(shard.Parameters.shape[0], dtype: torch.float32, device: shard.Parameters.device).DetachFromDisposeScope();
        if (!shard.Fused)
        {
            _tensorStep = new LambTensorStep(shard.Parameters, shard.Gradient, shard.State("exp_avg"), shard.State("exp_avg_sq"), _update,
                shard.Segments, shard.ParameterCount);
        }
    }

    /// <inheritdoc />
    protected override void Prepare(ShardState shard, double gradientCoefficient)
    {
        for (var g = 0; g < _scalars.Length; g++)
        {
            var o = Options(shard, g);
            _scalars[g] = new LambScalars(o.LearningRate, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.BiasCorrection, o.GradAveraging,
                o.TrustClip, o.AlwaysAdapt, shard.Groups[g].Step, gradientCoefficient);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        _tensorStep?.Dispose();
        _update?.Dispose();
    }

    /// <inheritdoc />
    /// <remarks>Collective: every rank must call (the norm all-reduce).</remarks>
    protected override void FusedUpdate(ShardState shard, double gradientCoefficient)
    {
        var grad = TensorMemory.AsFloatMemory(shard.Gradient, "gradient shard");
        var param = TensorMemory.AsFloatMemory(shard.Parameters, "parameter shard");
        var m = TensorMemory.AsFloatMemory(shard.State("exp_avg"), "exp_avg");
        var v = TensorMemory.AsFloatMemory(shard.State("exp_avg_sq"), "exp_avg_sq");
        var u = TensorMemory.AsFloatMemory(_update!, "update");
        Array.Clear(_norms);
        foreach (var s in shard.Segments)
        {
            if (!shard.HadGradient[s.Parameter])
            {
                continue;
            }
            var (start, length) = (s.LocalStart, s.Length);
            var (paramSquares, updateSquares) = LambKernel.ComputeUpdate(param.Slice(start, length), grad.Slice(start, length),
                m.Slice(start, length), v.Slice(start, length), u.Slice(start, length), _scalars[s.Group]);
            _norms[2 * s.Parameter] += paramSquares;
            _norms[2 * s.Parameter + 1] += updateSquares;
        }

        shard.ReduceParameterSums(_norms);

        foreach (var s in shard.Segments)
        {
            if (!shard.HadGradient[s.Parameter])
            {
                continue;
            }
            var scalars = _scalars[s.Group];
            var ratio = LambKernel.TrustRatio(_norms[2 * s.Parameter], _norms[2 * s.Parameter + 1], scalars);
            var (start, length) = (s.LocalStart, s.Length);
            LambKernel.ApplyUpdate(param.Slice(start, length), u.Slice(start, length), ratio, scalars.LearningRate);
        }
    }

    /// <summary>The same two phases as tensor operations on the device, with the same norm all-reduce and trust ratios between them.</summary>
    /// <remarks>Collective: every rank must call (the norm all-reduce).</remarks>
    protected override void TensorUpdate(ShardState shard, double gradientCoefficient)
    {
        var step = _tensorStep!;
        step.ComputeUpdates(gradientCoefficient, _scalars, shard.HadGradient, _norms);
        shard.ReduceParameterSums(_norms);
        for (var i = 0; i < _trustRatios.Length; i++)
        {
            var group = shard.GroupOfParameter[i];
            _trustRatios[i] = group >= 0 && shard.HadGradient[i] ? LambKernel.TrustRatio(_norms[2 * i], _norms[2 * i + 1], _scalars[group]) : 1.0;
        }
        step.ApplyUpdates(_scalars, shard.HadGradient, _trustRatios);
    }
}
