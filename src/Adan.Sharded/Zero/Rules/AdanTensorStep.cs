using Adan.Sharded.Optim;
using TorchSharp;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// The Adan update of a shard as in-place tensor operations, for memory the fused CPU kernel cannot reach (CUDA) and,
/// on request, for the CPU too. The views of every segment into the six flat buffers are made once, so a step launches
/// operations on existing views and allocates no buffers.
/// </summary>
/// <remarks>
/// The gradient shard is scaled in place by the step's gradient coefficient (1/(W·k) times the clip) before the update,
/// which leaves <c>neg_pre_grad</c> as its own scratch: it holds g − g_prev, then g + β2·(g − g_prev), then the
/// denominator, and finally −g. The order of operations is the official single-tensor path's
/// (<see cref="AdanKernel.ReferenceStep"/>), so results agree with the fused kernel within float tolerance.
/// </remarks>
internal sealed class AdanTensorStep : IDisposable
{
    private readonly torch.Tensor _gradient;
    private readonly Segment[] _segments;

    /// <param name="parameters">The parameter elements of the state range.</param>
    /// <param name="gradient">The gradient elements of the state range (scaled in place by <see cref="Run"/>).</param>
    /// <param name="expAvg">exp_avg of the state range.</param>
    /// <param name="expAvgSq">exp_avg_sq of the state range.</param>
    /// <param name="expAvgDiff">exp_avg_diff of the state range.</param>
    /// <param name="negPreGrad">neg_pre_grad of the state range.</param>
    /// <param name="segments">The parameters' pieces inside the state range.</param>
    public AdanTensorStep(torch.Tensor parameters, torch.Tensor gradient, torch.Tensor expAvg, torch.Tensor expAvgSq, torch.Tensor expAvgDiff,
        torch.Tensor negPreGrad, IReadOnlyList<ShardSegment> segments)
    {
        _gradient = gradient;
        _segments = segments.Select(s => new Segment(s,
            View(parameters, s), View(gradient, s), View(expAvg, s), View(expAvgSq, s), View(expAvgDiff, s), View(negPreGrad, s))).ToArray();
    }

    /// <summary>
    /// Applies one update to every segment whose parameter had a gradient: scales the gradient by
    /// <paramref name="gradientCoefficient"/>, then updates in place with the segment's group scalars;
    /// <paramref name="hadGradient"/> and <paramref name="firstStep"/> are indexed by parameter.
    /// </summary>
    public void Run(double gradientCoefficient, ReadOnlySpan<AdanScalars> groupScalars, IReadOnlyList<bool> hadGradient,
        IReadOnlyList<bool> firstStep)
    {
        using var noGrad = torch.no_grad();
        if (gradientCoefficient != 1.0)
        {
            _gradient.mul_(gradientCoefficient);
        }
        foreach (var segment in _segments)
        {
            if (hadGradient[segment.Piece.Parameter])
            {
                segment.Update(groupScalars[segment.Piece.Group], firstStep[segment.Piece.Parameter]);
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
    }

    private static torch.Tensor View(torch.Tensor buffer, ShardSegment s) => buffer.narrow(0, s.LocalStart, s.Length).DetachFromDisposeScope();

    private sealed record Segment(ShardSegment Piece, torch.Tensor Param, torch.Tensor Grad, torch.Tensor ExpAvg, torch.Tensor ExpAvgSq,
        torch.Tensor ExpAvgDiff, torch.Tensor NegPreGrad) : IDisposable
    {
        public void Update(in AdanScalars s, bool firstStep)
        {
            var n = NegPreGrad;
            if (firstStep)
            {
                n.copy_(Grad).neg_();
            }
            n.add_(Grad);
            ExpAvg.mul_(s.Beta1).add_(Grad, alpha: s.OneMinusBeta1);
            ExpAvgDiff.mul_(s.Beta2).add_(n, alpha: s.OneMinusBeta2);
            n.mul_(s.Beta2).add_(Grad);
            ExpAvgSq.mul_(s.Beta3).addcmul_(n, n, value: s.OneMinusBeta3);
            n.copy_(ExpAvgSq).sqrt_().div_(s.BiasCorrection3Sqrt).add_(s.Eps);
            if (s.NoProx && s.DecayFactor != 1.0)
            {
                Param.mul_(s.DecayFactor);
            }
            Param.addcdiv_(ExpAvg, n, value: -s.StepSize);
            Param.addcdiv_(ExpAvgDiff, n, value: -s.StepSizeDiff);
            if (!s.NoProx && s.DecayFactor != 1.0)
            {
                Param.div_(s.DecayFactor);
            }
            n.copy_(Grad).neg_();
        }

        public void Dispose()
        {
            Param.Dispose();
            Grad.Dispose();
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
            ExpAvgDiff.Dispose();
            NegPreGrad.Dispose();
        }
    }
}
