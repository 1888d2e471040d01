using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Adan.Sharded.Zero;

/// <summary>
/// The hyper-parameters of one AdamW parameter group, with PyTorch's <c>torch.optim.AdamW</c> defaults. Its JSON form
/// (<c>lr</c>, <c>betas</c>, <c>eps</c>, <c>weight_decay</c>, <c>max_grad_norm</c>) is the config's <c>adamw</c> section
/// and a checkpoint's group options.
/// </summary>
public sealed record AdamWGroupOptions : IGroupOptions
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

    /// <summary>[β1, β2], PyTorch's <c>betas</c>.</summary>
    [Description("[beta1, beta2]: decays of exp_avg and exp_avg_sq")]
    [Range(0.0, 1.0, MaximumIsExclusive = true)]
    [JsonPropertyName("betas")]
    public double[] Betas
    {
        get => [Beta1, Beta2];
        init
        {
            var b = OptionsChecks.Betas(value, 2, "AdamW", "[0.9, 0.999]");
            (Beta1, Beta2) = (b[0], b[1]);
        }
    }

    /// <summary>ε added after the square root of the bias-corrected second moment (≥ 0).</summary>
    [Description("epsilon added after the square root")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("eps")]
    public double Eps { get; init; } = 1e-8;

    /// <summary>Decoupled weight decay: p ← p·(1 − lr·wd) before the update (≥ 0; PyTorch's default 0.01).</summary>
    [Description("decoupled weight decay, p <- p*(1 - lr*wd) before the update")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("weight_decay")]
    public double WeightDecay { get; init; } = 1e-2;

    /// <summary>Global-norm clipping threshold as <c>clip_grad_norm_</c> applies it (0 = off).</summary>
    [Description("global gradient-norm clipping threshold (0 = off)")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("max_grad_norm")]
    public double MaxGradNorm { get; init; }

    /// <inheritdoc />
    public IGroupOptions WithoutWeightDecay() => this with { WeightDecay = 0 };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        Optim.LambValidation.HyperParameters(LearningRate, Eps, WeightDecay, Beta1, Beta2);
        Optim.AdanValidation.MaxGradNorm(MaxGradNorm);
    }
}
