using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Adan.Sharded.Zero;

/// <summary>
/// The hyper-parameters of one LAMB parameter group, with timm's defaults. Its JSON form (<c>lr</c>, <c>betas</c>,
/// <c>eps</c>, <c>weight_decay</c>, <c>bias_correction</c>, <c>grad_averaging</c>, <c>trust_clip</c>, <c>always_adapt</c>,
/// <c>max_grad_norm</c>) is the config's <c>lamb</c> section and a checkpoint's group options.
/// </summary>
public sealed record LambGroupOptions : IGroupOptions
{
    /// <summary>Learning rate (≥ 0); may change every step.</summary>
    [Description("learning rate; in a config section the peak of the schedule")]
    [JsonPropertyName("lr")]
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>β1, decay of exp_avg, in [0, 1).</summary>
    [JsonIgnore]
    public double Beta1 { get; init; } = 0.9;

    /// <summary>β2, decay of exp_avg_sq, in [0, 1).</summary>
    [JsonIgnore]
    public double Beta2 { get; init; } = 0.999;

    /// <summary>[β1, β2], timm's <c>betas</c>.</summary>
    [Description("[beta1, beta2]: decays of exp_avg and exp_avg_sq")]
    [Range(0.0, 1.0, MaximumIsExclusive = true)]
    [JsonPropertyName("betas")]
    public double[] Betas
    {
        get => [Beta1, Beta2];
        init
        {
            var b = OptionsChecks.Betas(value, 2, "LAMB", "[0.9, 0.999]");
            (Beta1, Beta2) = (b[0], b[1]);
        }
    }

    /// <summary>ε added after the square root (≥ 0).</summary>
    [Description("epsilon added after the square root")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("eps")]
    public double Eps { get; init; } = 1e-6;

    /// <summary>Weight decay added to the update before the trust ratio (≥ 0).</summary>
    [Description("weight decay added to the update before the trust ratio")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("weight_decay")]
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Divide the moments by 1 − β^step.</summary>
    [Description("divide the moments by 1 - beta^step")]
    [JsonPropertyName("bias_correction")]
    public bool BiasCorrection { get; init; } = true;

    /// <summary>Weight the new gradient by 1 − β1 in exp_avg (false: by 1).</summary>
    [Description("weight the new gradient by 1 - beta1 in exp_avg (false: by 1)")]
    [JsonPropertyName("grad_averaging")]
    public bool GradAveraging { get; init; } = true;

    /// <summary>Cap the trust ratio at 1.</summary>
    [Description("cap the trust ratio at 1")]
    [JsonPropertyName("trust_clip")]
    public bool TrustClip { get; init; }

    /// <summary>Apply the trust ratio even when the weight decay is 0.</summary>
    [Description("apply the trust ratio even when weight_decay is 0")]
    [JsonPropertyName("always_adapt")]
    public bool AlwaysAdapt { get; init; }

    /// <summary>Global-norm clipping threshold (0 = off; timm's default 1.0).</summary>
    [Description("global gradient-norm clipping threshold (0 = off)")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("max_grad_norm")]
    public double MaxGradNorm { get; init; } = 1.0;

    /// <inheritdoc />
    public IGroupOptions WithoutWeightDecay() => this with { WeightDecay = 0 };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        Optim.LambValidation.HyperParameters(LearningRate, Eps, WeightDecay, Beta1, Beta2);
        Optim.LambValidation.MaxGradNorm(MaxGradNorm);
    }
}
