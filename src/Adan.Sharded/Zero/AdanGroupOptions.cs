namespace Adan.Sharded.Zero;

/// <summary>
/// The hyper-parameters of one Adan parameter group, in the official convention
/// (β1, β2, β3 = 0.98, 0.92, 0.99 are the decays of the three moving averages).
/// </summary>
public sealed record AdanGroupOptions
{
    /// <summary>Learning rate (≥ 0); may change every step.</summary>
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>β1, decay of the gradient average, in [0, 1).</summary>
    public double Beta1 { get; init; } = 0.98;

    /// <summary>β2, decay of the gradient-difference average, in [0, 1).</summary>
    public double Beta2 { get; init; } = 0.92;

    /// <summary>β3, decay of the squared-term average, in [0, 1).</summary>
    public double Beta3 { get; init; } = 0.99;

    /// <summary>ε added outside the square root (≥ 0).</summary>
    public double Eps { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay (≥ 0).</summary>
    public double WeightDecay { get; init; }

    /// <summary>true: multiply by 1 − lr·wd before the update; false: divide by 1 + lr·wd after it.</summary>
    public bool NoProx { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate() => Optim.AdanValidation.HyperParameters(LearningRate, Eps, WeightDecay, Beta1, Beta2, Beta3);
}
