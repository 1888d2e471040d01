using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// The LAMB update of a shard as in-place tensor operations, for memory the CPU kernel cannot reach (CUDA) and, on
/// request, for the CPU too: the same two phases as <see cref="LambKernel"/>, with the per-parameter norms between
/// them. The views of every segment into the five flat buffers, and the norms' slots, are made once.
/// </summary>
/// <remarks>
/// The gradient shard is scaled in place by the step's gradient coefficient (1/(W·k) divided by the clip divisor)
/// and then serves as the segment's scratch once <c>exp_avg</c> and <c>exp_avg_sq</c> are updated: it holds the
/// denominator √v/√bc2 + ε, then p², then u². Each segment's Σp² and Σu² are reduced in float64 on the device into its
/// parameter's slots of one small buffer, which is copied to the host once per step (the only synchronisation of
/// phase a) for the caller's all-reduce and trust ratios. The order of operations is timm's, so results agree with
/// the CPU kernel within float tolerance.
/// </remarks>
internal sealed class LambTensorStep : IDisposable
{
    private readonly torch.Tensor _gradient;
    private readonly torch.Tensor _norms;
    private readonly torch.Tensor _hostNorms;
    private readonly Segment[] _segments;

    /// <param name="parameters">The parameter elements of the state range.</param>
    /// <param name="gradient">The gradient elements of the state range (scaled and overwritten by <see cref="ComputeUpdates"/>).</param>
    /// <param name="expAvg">exp_avg of the state range.</param>
    /// <param name="expAvgSq">exp_avg_sq of the state range.</param>
    /// <param name="update">Receives u for the state range.</param>
    /// <param name="segments">The parameters' pieces inside the state range.</param>
    /// <param name="parameterCount">Parameters in the layout (the norms hold 2 per parameter).</param>
    public LambTensorStep(torch.Tensor parameters, torch.Tensor gradient, torch.Tensor expAvg, torch.Tensor expAvgSq, torch.Tensor update,
        IReadOnlyList<ShardSegment> segments, int parameterCount)
    {
        _gradient = gradient;
        _norms = torch.zeros(2L * parameterCount, dtype: torch.float64, device: parameters.device).DetachFromDisposeScope();
        _hostNorms = torch.zeros(2L * parameterCount, dtype: torch.float64).DetachFromDisposeScope();
        _segments = segments.Select(s => new Segment(s, View(parameters, s), View(gradient, s), View(expAvg, s), View(expAvgSq, s), View(update, s),
            _norms.narrow(0, 2L * s.Parameter, 1).DetachFromDisposeScope(), _norms.narrow(0, 2L * s.Parameter + 1, 1).DetachFromDisposeScope())).ToArray();
    }

    /// <summary>
    /// Phase (a) for every segment whose parameter had a gradient: scales the gradient by
    /// <paramref name="gradientCoefficient"/>, updates the moments, writes u, and leaves each parameter's partial Σp²
    /// and Σu² over this rank's segments in <paramref name="norms"/> ([2i], [2i + 1]; the others zero).
    /// </summary>
    public void ComputeUpdates(double gradientCoefficient, ReadOnlySpan<LambScalars> groupScalars, IReadOnlyList<bool> hadGradient, double[] norms)
    {
        using var noGrad = torch.no_grad();
        if (gradientCoefficient != 1.0)
        {
            _gradient.mul_(gradientCoefficient);
        }
        _norms.zero_();
        foreach (var segment in _segments)
        {
            if (hadGradient[segment.Piece.Parameter])
            {
                segment.Compute(groupScalars[segment.Piece.Group]);
            }
        }
        _hostNorms.copy_(_norms);
        unsafe
        {
            new ReadOnlySpan<double>((double*)TensorMemory.DataPointer(_hostNorms), norms.Length).CopyTo(norms);
        }
    }

    /// <summary>Phase (b): p −= lr·(r·u) for every segment whose parameter had a gradient, r its parameter's trust ratio.</summary>
    public void ApplyUpdates(ReadOnlySpan<LambScalars> groupScalars, IReadOnlyList<bool> hadGradient, ReadOnlySpan<double> trustRatios)
    {
        using var noGrad = torch.no_grad();
        foreach (var segment in _segments)
        {
            if (hadGradient[segment.Piece.Parameter])
            {
                segment.Apply(trustRatios[segment.Piece.Parameter], groupScalars[segment.Piece.Group].LearningRate);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var segment in _segments)
        {
            segment.Dispose();
        }
        _norms.Dispose();
        _hostNorms.Dispose();
    }

    private static torch.Tensor View(torch.Tensor buffer, ShardSegment s) => buffer.narrow(0, s.LocalStart, s.Length).DetachFromDisposeScope();

    private sealed record Segment(ShardSegment Piece, torch.Tensor Param, torch.Tensor Grad, torch.Tensor ExpAvg, torch.Tensor ExpAvgSq,
        torch.Tensor Update, torch.Tensor ParamSquares, torch.Tensor UpdateSquares) : IDisposable
    {
        public void Compute(in LambScalars s)
        {
            ExpAvg.mul_(s.Beta1).add_(Grad, alpha: s.GradWeight);
            ExpAvgSq.mul_(s.Beta2).addcmul_(Grad, Grad, value: s.OneMinusBeta2);
            // The gradient is not needed any more: it becomes the denominator, then the squares.
            Grad.copy_(ExpAvgSq).sqrt_().div_(s.SqrtBiasCorrection2).add_(s.Eps);
            Update.copy_(ExpAvg).div_(s.BiasCorrection1).div_(Grad);
            // As the reference, wd·p only when wd ≠ 0: adding 0·p would turn an infinite weight's update into NaN.
            if (s.WeightDecay != 0)
            {
                Update.add_(Param, alpha: s.WeightDecay);
            }
            AddSquares(Param, ParamSquares);
            AddSquares(Update, UpdateSquares);
        }

        /// <summary>Adds Σx² over the segment, summed in float64, to <paramref name="slot"/>, with the gradient's view as scratch.</summary>
        private void AddSquares(torch.Tensor x, torch.Tensor slot)
        {
            Grad.copy_(x);
            Grad.mul_(Grad);
            using var sum = Grad.sum(type: torch.ScalarType.Float64);
            slot.add_(sum);
        }

        public void Apply(double trustRatio, double learningRate)
        {
            Update.mul_(trustRatio);
            Param.add_(Update, alpha: -learningRate);
        }

        public void Dispose()
        {
            Param.Dispose();
            Grad.Dispose();
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
            Update.Dispose();
            ParamSquares.Dispose();
            UpdateSquares.Dispose();
        }
    }
}
