namespace Adan.Sharded.Zero;

/// <summary>The hyper-parameters of one LAMB parameter group, with timm's defaults.</summary>
public sealed record LambGroupOptions
{
    /// <summary>Learning rate (≥ 0); may change every step.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>β1, decay of exp_avg, in [0, 1).</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>β2, decay of exp_avg_sq, in [0, 1).</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>ε added after the square root (≥ 0).</summary>
    public double Eps { get; init; } = 1e-6;

    /// <summary>Weight decay added to the update before the trust ratio (≥ 0).</summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Divide the moments by 1 − β^step.</summary>
    public bool BiasCorrection { get; init; } = true;

    /// <summary>Weight the new gradient by 1 − β1 in exp_avg (false: by 1).</summary>
    public bool GradAveraging { get; init; } = true;

    /// <summary>Cap the trust ratio at 1.</summary>
    public bool TrustClip { get; init; }

    /// <summary>Apply the trust ratio even when the weight decay is 0.</summary>
    public bool AlwaysAdapt { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate() => Optim.LambValidation.HyperParameters(LearningRate, Eps, WeightDecay, Beta1, Beta2);
}
