using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;

namespace Adan.Sharded.Zero;

/// <summary>
/// The hyper-parameters of one SGD parameter group, with PyTorch's <c>torch.optim.SGD</c> defaults (momentum 0, no
/// dampening, L2 weight decay added to the gradient). Its JSON form (<c>lr</c>, <c>momentum</c>, <c>dampening</c>,
/// <c>nesterov</c>, <c>weight_decay</c>, <c>max_grad_norm</c>) is the config's <c>sgd</c> section and a checkpoint's group options.
/// </summary>
public sealed record SgdGroupOptions : IGroupOptions
{
    /// <summary>Learning rate (≥ 0); may change every step.</summary>
    [Description("learning rate; in a config section the peak of the schedule")]
    [JsonPropertyName("lr")]
    public double LearningRate { get; set; } = 1e-3;

    /// <summary>Momentum factor (≥ 0; 0 = plain SGD).</summary>
    [Description("momentum factor (0 = plain SGD)")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("momentum")]
    public double Momentum { get; init; }

    /// <summary>Dampening of the momentum's new gradient (≥ 0; must be 0 with Nesterov).</summary>
    [Description("dampening of the momentum's new gradient (0 with nesterov)")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("dampening")]
    public double Dampening { get; init; }

    /// <summary>Nesterov momentum (needs momentum &gt; 0 and dampening 0).</summary>
    [Description("Nesterov momentum (needs momentum > 0 and dampening 0)")]
    [JsonPropertyName("nesterov")]
    public bool Nesterov { get; init; }

    /// <summary>L2 penalty added to the gradient, g + wd·p (≥ 0).</summary>
    [Description("L2 penalty added to the gradient, g + wd*p")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("weight_decay")]
    public double WeightDecay { get; init; }

    /// <summary>Global-norm clipping threshold as <c>clip_grad_norm_</c> applies it (0 = off).</summary>
    [Description("global gradient-norm clipping threshold (0 = off)")]
    [Range(0.0, double.PositiveInfinity, MaximumIsExclusive = true)]
    [JsonPropertyName("max_grad_norm")]
    public double MaxGradNorm { get; init; }

    /// <inheritdoc />
    public IGroupOptions WithoutWeightDecay() => this with { WeightDecay = 0 };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range, in PyTorch's words.</summary>
    public void Validate()
    {
        Optim.AdanValidation.RequireNonNegative(LearningRate, "lr", "learning rate", "");
        Optim.AdanValidation.RequireNonNegative(Momentum, "momentum", "momentum value", "");
        Optim.AdanValidation.RequireNonNegative(Dampening, "dampening", "dampening value", "");
        Optim.AdanValidation.RequireNonNegative(WeightDecay, "weight_decay", "weight decay", "");
        if (Nesterov && (Momentum <= 0 || Dampening != 0))
        {
            throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening; set momentum > 0 and dampening 0, or nesterov false.", "nesterov");
        }
        Optim.AdanValidation.MaxGradNorm(MaxGradNorm);
    }
}
