namespace Adan.Sharded.Optim;

/// <summary>
/// The per-step scalars of one Adan update of one parameter group, computed once on the host in
/// double precision (as the official implementation does with Python floats) so that both kernels
/// and every shard of a sharded optimizer apply exactly the same coefficients.
/// </summary>
public readonly struct AdanScalars
{
    /// <summary>
    /// Computes the scalars of step <paramref name="step"/> (1-based, counted per group).
    /// </summary>
    /// <param name="lr">The group's learning rate.</param>
    /// <param name="beta1">β1, the decay of the gradient average (official convention).</param>
    /// <param name="beta2">β2, the decay of the gradient-difference average.</param>
    /// <param name="beta3">β3, the decay of the squared-term average.</param>
    /// <param name="eps">Added to the denominator outside the square root.</param>
    /// <param name="weightDecay">Decoupled weight decay.</param>
    /// <param name="noProx">
    /// <see langword="true"/>: multiply the parameter by 1 − lr·wd before the update;
    /// <see langword="false"/>: divide it by 1 + lr·wd after the update (proximal form).
    /// </param>
    /// <param name="step">The group's step counter after incrementing it for this step (≥ 1).</param>
    /// <param name="clipCoef">The global-norm clip coefficient applied to every gradient (1 when not clipping).</param>
    public AdanScalars(double lr, double beta1, double beta2, double beta3, double eps, double weightDecay,
        bool noProx, long step, double clipCoef)
    {
        if (step < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, $"Invalid step: {step}; the step counter is 1 or more when an update is applied.");
        }

        Beta1 = beta1;
        Beta2 = beta2;
        Beta3 = beta3;
        OneMinusBeta1 = 1.0 - beta1;
        OneMinusBeta2 = 1.0 - beta2;
        OneMinusBeta3 = 1.0 - beta3;
        Eps = eps;
        ClipCoef = clipCoef;
        NoProx = noProx;
        BiasCorrection3Sqrt = Math.Sqrt(1.0 - Math.Pow(beta3, step));
        StepSize = lr / (1.0 - Math.Pow(beta1, step));
        StepSizeDiff = lr * beta2 / (1.0 - Math.Pow(beta2, step));
        DecayFactor = noProx ? 1.0 - lr * weightDecay : 1.0 + lr * weightDecay;
    }

    /// <summary>β1.</summary>
    public double Beta1 { get; }

    /// <summary>β2.</summary>
    public double Beta2 { get; }

    /// <summary>β3.</summary>
    public double Beta3 { get; }

    /// <summary>1 − β1, formed in double.</summary>
    public double OneMinusBeta1 { get; }

    /// <summary>1 − β2, formed in double.</summary>
    public double OneMinusBeta2 { get; }

    /// <summary>1 − β3, formed in double (in float32 it would lose about 1e-5 relative for β3 near 1).</summary>
    public double OneMinusBeta3 { get; }

    /// <summary>ε, added after dividing √n by the bias correction.</summary>
    public double Eps { get; }

    /// <summary>The global-norm clip coefficient.</summary>
    public double ClipCoef { get; }

    /// <summary>Whether weight decay multiplies before the update instead of dividing after it.</summary>
    public bool NoProx { get; }

    /// <summary>√(1 − β3^step).</summary>
    public double BiasCorrection3Sqrt { get; }

    /// <summary>lr / (1 − β1^step).</summary>
    public double StepSize { get; }

    /// <summary>lr·β2 / (1 − β2^step).</summary>
    public double StepSizeDiff { get; }

    /// <summary>1 − lr·wd when <see cref="NoProx"/>, else 1 + lr·wd; 1 means no weight decay.</summary>
    public double DecayFactor { get; }
}
