namespace Adan.Sharded.Optim;

/// <summary>
/// The per-step scalars of one AdamW update of one parameter, computed on the host in double as PyTorch's
/// <c>_single_tensor_adamw</c> does with Python floats, and narrowed once for the fp32 kernel.
/// </summary>
public readonly record struct AdamWScalars
{
    /// <summary>Computes the scalars of a parameter's step <paramref name="step"/> (≥ 1, counted per parameter).</summary>
    /// <param name="lr">Learning rate.</param>
    /// <param name="beta1">β1, decay of exp_avg.</param>
    /// <param name="beta2">β2, decay of exp_avg_sq.</param>
    /// <param name="eps">Added to the denominator after the square root.</param>
    /// <param name="weightDecay">Decoupled weight decay: p ← p·(1 − lr·wd).</param>
    /// <param name="step">The parameter's step counter after this step's increment.</param>
    /// <param name="gradientCoefficient">Multiplies every gradient element: 1/(W·k) and the clip coefficient.</param>
    public AdamWScalars(double lr, double beta1, double beta2, double eps, double weightDecay, long step, double gradientCoefficient)
    {
        if (step < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, $"Invalid step: {step}; the step counter is 1 or more when an update is applied.");
        }
        DecayFactor = (float)(1 - lr * weightDecay);
        Beta1 = (float)beta1;
        OneMinusBeta1 = (float)(1 - beta1);
        Beta2 = (float)beta2;
        OneMinusBeta2 = (float)(1 - beta2);
        StepSize = (float)(lr / (1 - Math.Pow(beta1, step)));
        BiasCorrection2Sqrt = (float)Math.Sqrt(1 - Math.Pow(beta2, step));
        Eps = (float)eps;
        GradientCoefficient = (float)gradientCoefficient;
    }

    /// <summary>1 − lr·wd.</summary>
    public float DecayFactor { get; }

    /// <summary>β1.</summary>
    public float Beta1 { get; }

    /// <summary>1 − β1, the weight of g in exp_avg (PyTorch's lerp).</summary>
    public float OneMinusBeta1 { get; }

    /// <summary>β2.</summary>
    public float Beta2 { get; }

    /// <summary>1 − β2, the weight of g² in exp_avg_sq.</summary>
    public float OneMinusBeta2 { get; }

    /// <summary>lr / (1 − β1^step).</summary>
    public float StepSize { get; }

    /// <summary>√(1 − β2^step).</summary>
    public float BiasCorrection2Sqrt { get; }

    /// <summary>ε.</summary>
    public float Eps { get; }

    /// <summary>The factor on every gradient element.</summary>
    public float GradientCoefficient { get; }
}
