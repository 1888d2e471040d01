using System.Runtime.Intrinsics;
using Adan.Sharded.Tensors;

namespace Adan.Sharded.Optim;

/// <summary>
/// The LAMB update (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76
/// minutes", https://arxiv.org/abs/1904.00962) as timm's <c>Lamb</c> (the NVLAMB variant of apex
/// <c>FusedLAMB</c>) computes it, apart from the optimizer's bookkeeping and from where the
/// parameter lives. With g = coefficient·grad:
/// <code>
/// m = β1·m + (grad_averaging ? 1 − β1 : 1)·g
/// v = β2·v + (1 − β2)·g²
/// u = (m / bc1) / (√v / √bc2 + ε)  (+ wd·p when wd ≠ 0)
/// r = ‖p‖ / ‖u‖, or 1 when either is 0; min(r, 1) with trust_clip; 1 unless wd ≠ 0 or always_adapt
/// p = p − lr·r·u
/// </code>
/// The norms are whole-parameter norms, so the update is split in two phases:
/// <c>ComputeUpdate</c> runs over each piece of a parameter and returns the piece's Σp² and
/// Σu² (in double); the caller adds them up over the pieces (across ranks when sharded), takes
/// <see cref="TrustRatio"/>, and <c>ApplyUpdate</c> runs over each piece again. Each phase takes spans or, for
/// pieces of any length, <see cref="FloatMemory"/> walked chunk by chunk.
/// Storage is fp32; the sums of squares are accumulated in double.
/// </summary>
public static class LambKernel
{
    /// <summary>
    /// Phase (a): updates <paramref name="expAvg"/> and <paramref name="expAvgSq"/> in place and
    /// writes the unscaled update into <paramref name="update"/>; returns Σp² and Σu² over the piece.
    /// All spans have the same length.
    /// </summary>
    /// <param name="param">The piece of the parameter (read only: the parameter changes in phase b).</param>
    /// <param name="grad">The gradient of the piece, before <see cref="LambScalars.GradientCoefficient"/>.</param>
    /// <param name="expAvg">exp_avg of the piece.</param>
    /// <param name="expAvgSq">exp_avg_sq of the piece.</param>
    /// <param name="update">Receives u.</param>
    /// <param name="scalars">The group's scalars for this step.</param>
    public static (double ParamSquares, double UpdateSquares) ComputeUpdate(ReadOnlySpan<float> param, ReadOnlySpan<float> grad,
        Span<float> expAvg, Span<float> expAvgSq, Span<float> update, in LambScalars scalars)
    {
        var n = param.Length;
        if (grad.Length != n || expAvg.Length != n || expAvgSq.Length != n || update.Length != n)
        {
            throw new ArgumentException(
                $"LAMB kernel spans differ in length: param {n}, grad {grad.Length}, exp_avg {expAvg.Length}, exp_avg_sq {expAvgSq.Length}, update {update.Length}.");
        }
        var coef = scalars.GradientCoefficient;
        var beta1 = scalars.Beta1;
        var beta2 = scalars.Beta2;
        var gradWeight = scalars.GradWeight;
        var oneMinusBeta2 = scalars.OneMinusBeta2;
        var bc1 = scalars.BiasCorrection1;
        var sqrtBc2 = scalars.SqrtBiasCorrection2;
        var eps = scalars.Eps;
        var wd = scalars.WeightDecay;
        // The reference adds wd·p only when wd ≠ 0; adding 0·p would turn an infinite weight's update into NaN.
        var decay = wd != 0;
        var i = 0;
        var paramAcc = Vector256<double>.Zero;
        var updateAcc = Vector256<double>.Zero;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256<float>.Count;
            for (; i + w <= n; i += w)
            {
                var p = Vector256.Create(param.Slice(i, w));
                var g = Vector256.Create(grad.Slice(i, w)) * coef;
                var m = Vector256.Create((ReadOnlySpan<float>)expAvg.Slice(i, w)) * beta1 + g * gradWeight;
                var v = Vector256.Create((ReadOnlySpan<float>)expAvgSq.Slice(i, w)) * beta2 + g * g * oneMinusBeta2;
                var u = m / bc1 / (Vector256.Sqrt(v) / sqrtBc2 + Vector256.Create(eps));
                if (decay)
                {
                    u += p * wd;
                }
                m.CopyTo(expAvg.Slice(i, w));
                v.CopyTo(expAvgSq.Slice(i, w));
                u.CopyTo(update.Slice(i, w));
                var (pLo, pHi) = Vector256.Widen(p);
                var (uLo, uHi) = Vector256.Widen(u);
                paramAcc += pLo * pLo + pHi * pHi;
                updateAcc += uLo * uLo + uHi * uHi;
            }
        }
        var paramSquares = Vector256.Sum(paramAcc);
        var updateSquares = Vector256.Sum(updateAcc);
        for (; i < n; i++)
        {
            var p = param[i];
            var g = grad[i] * coef;
            var m = expAvg[i] * beta1 + g * gradWeight;
            var v = expAvgSq[i] * beta2 + g * g * oneMinusBeta2;
            var u = m / bc1 / (MathF.Sqrt(v) / sqrtBc2 + eps);
            if (decay)
            {
                u += p * wd;
            }
            expAvg[i] = m;
            expAvgSq[i] = v;
            update[i] = u;
            paramSquares += (double)p * p;
            updateSquares += (double)u * u;
        }
        return (paramSquares, updateSquares);
    }

    /// <summary>
    /// Phase (a) over runs of memory of any length (a shard's piece of a parameter may exceed 2³¹ elements): the span
    /// version chunk by chunk, the sums added up over the chunks. All runs have the same length.
    /// </summary>
    /// <inheritdoc cref="ComputeUpdate(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float}, in LambScalars)" path="/param"/>
    public static (double ParamSquares, double UpdateSquares) ComputeUpdate(FloatMemory param, FloatMemory grad,
        FloatMemory expAvg, FloatMemory expAvgSq, FloatMemory update, in LambScalars scalars) =>
        ComputeUpdate(param, grad, expAvg, expAvgSq, update, scalars, ChunkPlan.SpanElements);

    /// <summary>Phase (a) in chunks of at most <paramref name="maxChunk"/> elements (tests lower it to exercise the chunking).</summary>
    internal static (double ParamSquares, double UpdateSquares) ComputeUpdate(FloatMemory param, FloatMemory grad,
        FloatMemory expAvg, FloatMemory expAvgSq, FloatMemory update, in LambScalars scalars, int maxChunk)
    {
        var n = param.Length;
        if (grad.Length != n || expAvg.Length != n || expAvgSq.Length != n || update.Length != n)
        {
            throw new ArgumentException(
                $"LAMB kernel memory differs in length: param {n}, grad {grad.Length}, exp_avg {expAvg.Length}, exp_avg_sq {expAvgSq.Length}, update {update.Length}.");
        }
        double paramSquares = 0, updateSquares = 0;
        foreach (var chunk in param.Chunks(maxChunk))
        {
            var (p, u) = ComputeUpdate(param[chunk], grad[chunk], expAvg[chunk], expAvgSq[chunk], update[chunk], scalars);
            paramSquares += p;
            updateSquares += u;
        }
        return (paramSquares, updateSquares);
    }

    /// <summary>
    /// The trust ratio from the whole parameter's Σp² and Σu²: 1 when the group does not adapt
    /// (weight decay 0 and not always_adapt) or either norm is 0, ‖p‖/‖u‖ otherwise, capped at 1
    /// with trust_clip. Non-finite sums give a non-finite ratio, as in the reference.
    /// </summary>
    public static double TrustRatio(double paramSquares, double updateSquares, in LambScalars scalars)
    {
        if (!scalars.Adapt)
        {
            return 1.0;
        }
        var paramNorm = Math.Sqrt(paramSquares);
        var updateNorm = Math.Sqrt(updateSquares);
        var ratio = paramNorm > 0 && updateNorm > 0 ? paramNorm / updateNorm : 1.0;
        return scalars.TrustClip ? Math.Min(ratio, 1.0) : ratio;
    }

    /// <summary>Phase (b): p −= lr·(r·u) over one piece, in the reference's order of fp32 operations.</summary>
    /// <param name="param">The piece of the parameter, updated in place.</param>
    /// <param name="update">u from <c>ComputeUpdate</c> for the same piece.</param>
    /// <param name="trustRatio">The whole parameter's trust ratio.</param>
    /// <param name="lr">The learning rate.</param>
    public static void ApplyUpdate(Span<float> param, ReadOnlySpan<float> update, double trustRatio, double lr)
    {
        var n = param.Length;
        if (update.Length != n)
        {
            throw new ArgumentException($"LAMB kernel spans differ in length: param {n}, update {update.Length}.");
        }
        var r = (float)trustRatio;
        var step = (float)lr;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256<float>.Count;
            for (; i + w <= n; i += w)
            {
                var p = Vector256.Create((ReadOnlySpan<float>)param.Slice(i, w)) - Vector256.Create(update.Slice(i, w)) * r * step;
                p.CopyTo(param.Slice(i, w));
            }
        }
        for (; i < n; i++)
        {
            param[i] -= update[i] * r * step;
        }
    }

    /// <summary>Phase (b) over runs of memory of any length, chunk by chunk.</summary>
    /// <inheritdoc cref="ApplyUpdate(Span{float}, ReadOnlySpan{float}, double, double)" path="/param"/>
    public static void ApplyUpdate(FloatMemory param, FloatMemory update, double trustRatio, double lr) =>
        ApplyUpdate(param, update, trustRatio, lr, ChunkPlan.SpanElements);

    /// <summary>Phase (b) in chunks of at most <paramref name="maxChunk"/> elements (tests lower it to exercise the chunking).</summary>
    internal static void ApplyUpdate(FloatMemory param, FloatMemory update, double trustRatio, double lr, int maxChunk)
    {
        if (update.Length != param.Length)
        {
            throw new ArgumentException($"LAMB kernel memory differs in length: param {param.Length}, update {update.Length}.");
        }
        foreach (var chunk in param.Chunks(maxChunk))
        {
            ApplyUpdate(param[chunk], update[chunk], trustRatio, lr);
        }
    }
}
