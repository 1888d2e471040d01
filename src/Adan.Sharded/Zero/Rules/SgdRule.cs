using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// SGD with momentum, dampening, Nesterov and L2 weight decay as an update rule of the <see cref="ShardedOptimizer"/>,
/// exact to <c>torch.optim.SGD</c>: the momentum buffer starts as the gradient on a parameter's first step with one,
/// a parameter without a gradient is skipped, and clipping is <c>clip_grad_norm_</c>'s. The buffer is kept (and
/// counted as state) even with momentum 0, where it stays zero.
/// </summary>
public sealed class SgdRule : UpdateRule<SgdGroupOptions>
{
    private SegmentViews? _views;

    /// <summary>PyTorch's name of the state buffer.</summary>
    public static IReadOnlyList<string> Names { get; } = ["momentum_buffer"];

    /// <inheritdoc />
    public override string Name => "sgd";

    /// <inheritdoc />
    public override IReadOnlyList<string> StateNames => Names;

    /// <inheritdoc />
    protected override void OnBind(ShardState shard)
    {
        if (!shard.Fused)
        {
            _views = new SegmentViews(shard.Segments, shard.Parameters, shard.Gradient, shard.State("momentum_buffer"));
        }
    }

    /// <inheritdoc />
    protected override void FusedUpdate(ShardState shard, double gradientCoefficient)
    {
        var grad = TensorMemory.AsFloatMemory(shard.Gradient, "gradient shard");
        var param = TensorMemory.AsFloatMemory(shard.Parameters, "parameter shard");
        var buffer = TensorMemory.AsFloatMemory(shard.State("momentum_buffer"), "momentum_buffer");
        foreach (var s in shard.Segments)
        {
            if (shard.HadGradient[s.Parameter])
            {
                var o = Options(shard, s.Group);
                var (start, length) = (s.LocalStart, s.Length);
                SgdKernel.FusedStep(param.Slice(start, length), grad.Slice(start, length), buffer.Slice(start, length),
                    SgdScalars.Of(o.LearningRate, o.Momentum, o.Dampening, o.WeightDecay, o.Nesterov, gradientCoefficient),
                    shard.ParameterSteps[s.Parameter] == 1);
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _views?.Dispose();

    /// <summary>PyTorch's single-tensor path on each segment's views; the gradient view holds g + wd·p and then the direction.</summary>
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
            var (param, grad, buffer) = (views.Of(k)[0], views.Of(k)[1], views.Of(k)[2]);
            if (o.WeightDecay != 0)
            {
                grad.add_(param, alpha: o.WeightDecay);
            }
            if (o.Momentum != 0)
            {
                if (shard.ParameterSteps[s.Parameter] == 1)
                {
                    buffer.copy_(grad);
                }
                else
                {
                    buffer.mul_(o.Momentum).add_(grad, alpha: 1 - o.Dampening);
                }
                if (o.Nesterov)
                {
                    grad.add_(buffer, alpha: o.Momentum);
                }
                else
                {
                    grad.copy_(buffer);
                }
            }
            param.add_(grad, alpha: -o.LearningRate);
        }
    }
}
