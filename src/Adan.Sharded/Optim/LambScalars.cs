namespace Adan.Sharded.Optim;

/// <summary>
/// The per-step scalars of one LAMB group, computed on the host in double (as the reference does
/// in Python) and narrowed once for the kernel.
/// </summary>
public readonly record struct LambScalars
{
    /// <summary>Computes the scalars of step <paramref name="step"/> (≥ 1) of a group.</summary>
    /// <param name="lr">Learning rate.</param>
    /// <param name="beta1">β1, decay of exp_avg.</param>
    /// <param name="beta2">β2, decay of exp_avg_sq.</param>
    /// <param name="eps">Added to the denominator after the square root.</param>
    /// <param name="weightDecay">Weight decay added to the update (before the trust ratio).</param>
    /// <param name="biasCorrection">Whether to divide by 1 − β^step.</param>
    /// <param name="gradAveraging">Whether the new gradient enters exp_avg with weight 1 − β1 (else 1).</param>
    /// <param name="trustClip">Whether the trust ratio is capped at 1.</param>
    /// <param name="alwaysAdapt">Whether the trust ratio applies even without weight decay.</param>
    /// <param name="step">The group's step counter after this step's increment.</param>
    /// <param name="gradientCoefficient">Multiplies every gradient element: 1/clip divisor (and 1/(W·k) when sharded).</param>
    public LambScalars(double lr, double beta1, double beta2, double eps, double weightDecay, bool biasCorrection, bool gradAveraging,
        bool trustClip, bool alwaysAdapt, long step, double gradientCoefficient)
    {
        LearningRate = lr;
        Beta1 = (float)beta1;
        Beta2 = (float)beta2;
        OneMinusBeta2 = (float)(1 - beta2);
        GradWeight = (float)(gradAveraging ? 1 - beta1 : 1.0);
        Eps = (float)eps;
        WeightDecay = (float)weightDecay;
        BiasCorrection1 = (float)(biasCorrection ? 1 - Math.Pow(beta1, step) : 1.0);
        SqrtBiasCorrection2 = (float)(biasCorrection ? Math.Sqrt(1 - Math.Pow(beta2, step)) : 1.0);
        Adapt = weightDecay != 0 || alwaysAdapt;
        TrustClip = trustClip;
        GradientCoefficient = (float)gradientCoefficient;
    }

    /// <summary>Learning rate, kept in double until it is multiplied by the trust ratio.</summary>
    public double LearningRate { get; }

    /// <summary>β1.</summary>
    public float Beta1 { get; }

    /// <summary>β2.</summary>
    public float Beta2 { get; }

    /// <summary>1 − β2, the weight of g² in exp_avg_sq.</summary>
    public float OneMinusBeta2 { get; }

    /// <summary>The weight of g in exp_avg: 1 − β1 with grad_averaging, else 1.</summary>
    public float GradWeight { get; }

    /// <summary>ε.</summary>
    public float Eps { get; }

    /// <summary>Weight decay.</summary>
    public float WeightDecay { get; }

    /// <summary>1 − β1^step (1 without bias correction).</summary>
    public float BiasCorrection1 { get; }

    /// <summary>√(1 − β2^step) (1 without bias correction).</summary>
    public float SqrtBiasCorrection2 { get; }

    /// <summary>Whether the trust ratio scales the update: weight decay ≠ 0 or always_adapt.</summary>
    public bool Adapt { get; }

    /// <summary>Whether the trust ratio is capped at 1.</summary>
    public bool TrustClip { get; }

    /// <summary>Multiplies every gradient element before it enters the moments.</summary>
    public float GradientCoefficient { get; }
}
