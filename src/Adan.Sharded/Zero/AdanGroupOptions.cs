using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Adan.Sharded.Zero;

/// <summary>
/// The hyper-parameters of one Adan parameter group, with the official implementation's defaults and convention
/// (β1, β2, β3 = 0.98, 0.92, 0.99 are the decays of the three moving averages). Its JSON form (<c>lr</c>, <c>betas</c>,
/// <c>eps</c>, <c>weight_decay</c>, <c>no_prox</c>, <c>max_grad_norm</c>) is the config's <c>adan</c> section and a checkpoint's group options.
/// </summary>
public sealed record AdanGroupOptions : IGroupOptions
{
    /// <summary>Learning rate (≥ 0); may change every step.</summary>
    [Description("learning rate; in a config section the peak of the schedule")]
    [JsonPropertyName("lr")]
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>β1, decay of the gradient average, in [0, 1).</summary>
    [JsonIgnore]
    public double Beta1 { get; init; } = 0.98;

    /// <summary>β2, decay of the gradient-difference average, in [0, 1).</summary>
    [JsonIgnore]
    public double Beta2 { get; init; } = 0.92;

    /// <summary>β3, decay of the squared-term average, in [0, 1).</summary>
    [JsonIgnore]
    public double Beta3 { get; init; } = 0.99;

    /// <summary>[β1, β2, β3], the official <c>betas</c>.</summary>
    [Description("[beta1, beta2, beta3]: decays of the gradient, gradient-difference and squared-term averages")]
    [Range(0.0, 1.0, MaximumIsExclusive = true)]
    [JsonPropertyName("betas")]
    public double[] Betas
    {
        get => [Beta1, Beta2, Beta3];
        init
        {
            var b = OptionsChecks.Betas(value, 3, "Adan", "[0.98, 0.92, 0.99]");
            (Beta1, Beta2, Beta3) = (b[0], b[1], b[2]);
        }
    }

    /// <summary>ε added outside the square root (≥ 0).</summary>
    [Description("epsilon added outside the square root")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("eps")]
    public double Eps { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay (≥ 0).</summary>
    [Description("decoupled weight decay")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("weight_decay")]
    public double WeightDecay { get; init; }

    /// <summary>true: multiply by 1 − lr·wd before the update; false: divide by 1 + lr·wd after it.</summary>
    [Description("true: multiply by 1 - lr*wd before the update; false: divide by 1 + lr*wd after it")]
    [JsonPropertyName("no_prox")]
    public bool NoProx { get; init; }

    /// <summary>Global-norm clipping threshold (0 = off, the official default).</summary>
    [Description("global gradient-norm clipping threshold (0 = off)")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("max_grad_norm")]
    public double MaxGradNorm { get; init; }

    /// <inheritdoc />
    public IGroupOptions WithoutWeightDecay() => this with { WeightDecay = 0 };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        Optim.AdanValidation.HyperParameters(LearningRate, Eps, WeightDecay, Beta1, Beta2, Beta3);
        Optim.AdanValidation.MaxGradNorm(MaxGradNorm);
    }
}
