using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Adan.Sharded.Checkpoints;

/// <summary>One optimizer parameter group in the manifest: its step count, its parameters and its options when saved.</summary>
/// <param name="Step">The group's step counter.</param>
/// <param name="Parameters">Indices of the group's parameters in the flat layout.</param>
/// <remarks>
/// Format 3 keeps the options as the optimizer's own JSON object (<see cref="Options"/>: <c>lr</c>, <c>betas</c>, ...), so
/// any optimizer fits. Formats 1 and 2 (Adan only) had fixed fields; <see cref="CheckpointManifest"/> turns them into
/// <see cref="Options"/> when it reads them, and never writes them.
/// </remarks>
public sealed record CheckpointGroup(long Step, int[] Parameters)
{
    /// <summary>The group's options as the optimizer's options record writes them (format 3; filled in for older formats when read).</summary>
    public JsonObject? Options { get; init; }

    /// <summary>The learning rate when saved, from <see cref="Options"/>' <c>lr</c>.</summary>
    [JsonIgnore]
    public double LearningRate => Options?["lr"]?.GetValue<double>() ?? LegacyLearningRate ?? 0;

    /// <summary>Format 1 and 2: the learning rate.</summary>
    [JsonPropertyName("learning_rate")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LegacyLearningRate { get; init; }

    /// <summary>Format 1 and 2: Adan's β1.</summary>
    [JsonPropertyName("beta1")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LegacyBeta1 { get; init; }

    /// <summary>Format 1 and 2: Adan's β2.</summary>
    [JsonPropertyName("beta2")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LegacyBeta2 { get; init; }

    /// <summary>Format 1 and 2: Adan's β3.</summary>
    [JsonPropertyName("beta3")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LegacyBeta3 { get; init; }

    /// <summary>Format 1 and 2: ε.</summary>
    [JsonPropertyName("eps")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LegacyEps { get; init; }

    /// <summary>Format 1 and 2: the weight decay.</summary>
    [JsonPropertyName("weight_decay")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LegacyWeightDecay { get; init; }

    /// <summary>Format 1 and 2: Adan's weight-decay form.</summary>
    [JsonPropertyName("no_prox")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? LegacyNoProx { get; init; }

    /// <summary>The group as format 3 has it: a format 1 or 2 group's Adan fields become its options object.</summary>
    internal CheckpointGroup Upgraded(double maxGradNorm) => Options is not null
        ? this
        : new CheckpointGroup(Step, Parameters)
        {
            Options = new JsonObject
            {
                ["lr"] = LegacyLearningRate ?? 0,
                ["betas"] = new JsonArray(LegacyBeta1 ?? 0.98, LegacyBeta2 ?? 0.92, LegacyBeta3 ?? 0.99),
                ["eps"] = LegacyEps ?? 1e-8,
                ["weight_decay"] = LegacyWeightDecay ?? 0,
                ["no_prox"] = LegacyNoProx ?? false,
                ["max_grad_norm"] = maxGradNorm,
            },
        };
}
