namespace Adan.Sharded.Zero.Rules;

/// <summary>The clipping of <c>torch.nn.utils.clip_grad_norm_</c>, which the PyTorch optimizers' recipes apply before the step.</summary>
internal static class ClipGradNorm
{
    /// <summary>max_norm / (‖g‖ + 1e-6), capped at 1; 1 when <paramref name="maxGradNorm"/> is 0 (off).</summary>
    public static double Coefficient(double gradNorm, double maxGradNorm) =>
        maxGradNorm > 0 ? Math.Min(1.0, maxGradNorm / (gradNorm + 1e-6)) : 1.0;
}
