using System.Runtime.Intrinsics;
using Adan.Sharded.Tensors;

namespace Adan.Sharded.Optim;

/// <summary>
/// The AdamW update (Loshchilov and Hutter, as <c>torch.optim.AdamW</c>) of one run of fp32 memory in one pass, in
/// PyTorch's order of operations:
/// <code>
/// g ← c·g                                   (c: 1/(W·k) and the clip coefficient)
/// p ← p·(1 − lr·wd)
/// m ← m + (1 − β1)·(g − m)                  (lerp)
/// v ← β2·v + (1 − β2)·g²
/// p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
/// </code>
/// Pure: no tensors, no allocation; the tests check it against TorchSharp's <c>torch.optim.AdamW</c>.
/// </summary>
public static class AdamWKernel
{
    /// <summary>One update of one piece; all spans have the same length.</summary>
    /// <param name="param">The parameters, updated in place.</param>
    /// <param name="grad">The gradients (read only; scaled on the fly).</param>
    /// <param name="expAvg">exp_avg, updated in place.</param>
    /// <param name="expAvgSq">exp_avg_sq, updated in place.</param>
    /// <param name="s">The step's scalars.</param>
    public static void FusedStep(Span<float> param, ReadOnlySpan<float> grad, Span<float> expAvg, Span<float> expAvgSq, in AdamWScalars s)
    {
        var n = param.Length;
        if (grad.Length != n || expAvg.Length != n || expAvgSq.Length != n)
        {
            throw new ArgumentException($"AdamW kernel spans differ in length: param {n}, grad {grad.Length}, exp_avg {expAvg.Length}, exp_avg_sq {expAvgSq.Length}.");
        }
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256<float>.Count;
            for (; i + w <= n; i += w)
            {
                var g = Vector256.Create(grad.Slice(i, w)) * s.GradientCoefficient;
                var p = Vector256.Create((ReadOnlySpan<float>)param.Slice(i, w)) * s.DecayFactor;
                var m = Vector256.Create((ReadOnlySpan<float>)expAvg.Slice(i, w));
                m += (g - m) * s.OneMinusBeta1;
                var v = Vector256.Create((ReadOnlySpan<float>)expAvgSq.Slice(i, w)) * s.Beta2 + g * g * s.OneMinusBeta2;
                var denom = Vector256.Sqrt(v) / s.BiasCorrection2Sqrt + Vector256.Create(s.Eps);
                p -= m / denom * s.StepSize;
                m.CopyTo(expAvg.Slice(i, w));
                v.CopyTo(expAvgSq.Slice(i, w));
                p.CopyTo(param.Slice(i, w));
            }
        }
        for (; i < n; i++)
        {
            var g = grad[i] * s.GradientCoefficient;
            var p = param[i] * s.DecayFactor;
            var m = expAvg[i];
            m += (g - m) * s.OneMinusBeta1;
            var v = expAvgSq[i] * s.Beta2 + g * g * s.OneMinusBeta2;
            var denom = MathF.Sqrt(v) / s.BiasCorrection2Sqrt + s.Eps;
            expAvg[i] = m;
            expAvgSq[i] = v;
            param[i] = p - m / denom * s.StepSize;
        }
    }

    /// <summary>One update over runs of memory of any length, chunk by chunk.</summary>
    /// <inheritdoc cref="FusedStep(Span{float}, ReadOnlySpan{float}, Span{float}, Span{float}, in AdamWScalars)" path="/param"/>
    public static void FusedStep(FloatMemory param, FloatMemory grad, FloatMemory expAvg, FloatMemory expAvgSq, in AdamWScalars s)
    {
        if (grad.Length != param.Length || expAvg.Length != param.Length || expAvgSq.Length != param.Length)
        {
            throw new ArgumentException("AdamW kernel memory differs in length.");
        }
        foreach (var chunk in param.Chunks())
        {
            FusedStep(param[chunk], grad[chunk], expAvg[chunk], expAvgSq[chunk], s);
        }
    }
}
