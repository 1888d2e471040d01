using Adan.Sharded.Tensors;

namespace Adan.Sharded.Optim;

/// <summary>
/// The SGD update (as <c>torch.optim.SGD</c>, momentum and Nesterov included) of one run of fp32 memory in one pass:
/// <code>
/// g ← c·g + wd·p                            (c: 1/(W·k) and the clip coefficient; wd·p only when wd ≠ 0)
/// b ← g on a parameter's first step, else μ·b + (1 − dampening)·g      (only with momentum μ ≠ 0)
/// d ← g + μ·b with Nesterov, else b         (g without momentum)
/// p ← p − lr·d
/// </code>
/// Pure: no tensors, no allocation; the tests check it against TorchSharp's <c>torch.optim.SGD</c>.
/// </summary>
public static class SgdKernel
{
    /// <summary>One update of one piece.</summary>
    /// <param name="param">The parameters, updated in place.</param>
    /// <param name="grad">The gradients (read only).</param>
    /// <param name="momentumBuffer">The momentum buffer, updated in place (untouched without momentum).</param>
    /// <param name="s">The step's scalars.</param>
    /// <param name="firstStep">The parameter's first step with a gradient: the buffer starts as the gradient.</param>
    public static void FusedStep(Span<float> param, ReadOnlySpan<float> grad, Span<float> momentumBuffer, in SgdScalars s, bool firstStep)
    {
        var n = param.Length;
        if (grad.Length != n || momentumBuffer.Length != n)
        {
            throw new ArgumentException($"SGD kernel spans differ in length: param {n}, grad {grad.Length}, momentum_buffer {momentumBuffer.Length}.");
        }
        var momentum = s.Momentum != 0;
        for (var i = 0; i < n; i++)
        {
            var p = param[i];
            var g = grad[i] * s.GradientCoefficient;
            if (s.WeightDecay != 0)
            {
                g += p * s.WeightDecay;
            }
            if (momentum)
            {
                var b = firstStep ? g : momentumBuffer[i] * s.Momentum + g * s.OneMinusDampening;
                momentumBuffer[i] = b;
                g = s.Nesterov ? g + b * s.Momentum : b;
            }
            param[i] = p - g * s.LearningRate;
        }
    }

    /// <summary>One update over runs of memory of any length, chunk by chunk.</summary>
    /// <inheritdoc cref="FusedStep(Span{float}, ReadOnlySpan{float}, Span{float}, in SgdScalars, bool)" path="/param"/>
    public static void FusedStep(FloatMemory param, FloatMemory grad, FloatMemory momentumBuffer, in SgdScalars s, bool firstStep)
    {
        if (grad.Length != param.Length || momentumBuffer.Length != param.Length)
        {
            throw new ArgumentException("SGD kernel memory differs in length.");
        }
        foreach (var chunk in param.Chunks())
        {
            FusedStep(param[chunk], grad[chunk], momentumBuffer[chunk], s, firstStep);
        }
    }
}
