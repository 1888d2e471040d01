using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// AdamW as an update rule of the <see cref="ShardedOptimizer"/>, exact to <c>torch.optim.AdamW</c> (no amsgrad):
/// PyTorch's state names, bias corrections from each parameter's own step count (a parameter without a gradient is
/// skipped and its count stands still), and <c>clip_grad_norm_</c>'s clipping: max_norm / (‖g‖ + 1e-6), capped at 1.
/// The update is <see cref="AdamWKernel"/> on CPU memory, or the same operations as tensor operations on any device.
/// </summary>
public sealed class AdamWRule : UpdateRule<AdamWGroupOptions>
{
    private SegmentViews? _views;

    /// <summary>PyTorch's names of the two state buffers.</summary>
    public static IReadOnlyList<string> Names { get; } = ["exp_avg", "exp_avg_sq"];

    /// <inheritdoc />
    public override string Name => "adamw";

    /// <inheritdoc />
    public override IReadOnlyList<string> StateNames => Names;

    /// <inheritdoc />
    protected override void OnBind(ShardState shard)
    {
        if (!shard.Fused)
        {
            _views = new SegmentViews(shard.Segments, shard.Parameters, shard.Gradient, shard.State("exp_avg"), shard.State("exp_avg_sq"));
        }
    }

    /// <inheritdoc />
    protected override void FusedUpdate(ShardState shard, double gradientCoefficient)
    {
        var grad = TensorMemory.AsFloatMemory(shard.Gradient, "gradient shard");
        var param = TensorMemory.AsFloatMemory(shard.Parameters, "parameter shard");
        var m = TensorMemory.AsFloatMemory(shard.State("exp_avg"), "exp_avg");
        var v = TensorMemory.AsFloatMemory(shard.State("exp_avg_sq"), "exp_avg_sq");
        foreach (var s in shard.Segments)
        {
            if (shard.HadGradient[s.Parameter])
            {
                var (start, length) = (s.LocalStart, s.Length);
                AdamWKernel.FusedStep(param.Slice(start, length), grad.Slice(start, length), m.Slice(start, length), v.Slice(start, length),
                    Scalars(shard, s, gradientCoefficient));
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _views?.Dispose();

    private static AdamWScalars Scalars(ShardState shard, ShardSegment s, double gradientCoefficient)
    {
        var o = Options(shard, s.Group);
        return new AdamWScalars(o.LearningRate, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, shard.ParameterSteps[s.Parameter], gradientCoefficient);
    }

    /// <summary>PyTorch's single-tensor path, operation for operation, on each segment's views; the gradient view is the denominator's scratch.</summary>
    protected override void TensorUpdate(ShardState shard, double gradientCoefficient)
    {
        var views = _views!;
        using var update = BeginTensorUpdate(shard, gradientCoefficient);
        for (var k = 0; k < views.Segments.Count; k++)
        {
            var s = views.Segments[k];
            if (!shard.HadGradient[s.Parameter])
            {
                continue;
            }
            var o = Options(shard, s.Group);
            var step = shard.ParameterSteps[s.Parameter];
            var (param, grad, expAvg, expAvgSq) = (views.Of(k)[0], views.Of(k)[1], views.Of(k)[2], views.Of(k)[3]);
            param.mul_(1 - o.LearningRate * o.WeightDecay);
            expAvg.lerp_(grad, 1 - o.Beta1);
            expAvgSq.mul_(o.Beta2).addcmul_(grad, grad, value: 1 - o.Beta2);
            var stepSize = o.LearningRate / (1 - Math.Pow(o.Beta1, step));
            var biasCorrection2Sqrt = Math.Sqrt(1 - Math.Pow(o.Beta2, step));
            grad.copy_(expAvgSq).sqrt_().div_(biasCorrection2Sqrt).add_(o.Eps);
            param.addcdiv_(expAvg, grad, value: -stepSize);
        }
    }
}
