using System.Text.Json.Serialization;
using Adan.Sharded.Optim;

namespace Adan.Sharded.Zero;

/// <summary>How the <see cref="ShardedOptimizer"/> stores its rule's state buffers (the config key <c>optimizer_state</c>).</summary>
public enum OptimizerStateMode
{
    /// <summary>fp32, 4 bytes an element per buffer (Adan: 16 bytes a parameter); the reference, and the only mode of LAMB, AdamW and SGD.</summary>
    [JsonStringEnumMemberName("fp32")]
    Fp32,

    /// <summary>bf16 with stochastic rounding on write (Adan: 8 bytes a parameter).</summary>
    [JsonStringEnumMemberName("bf16")]
    Bf16,

    /// <summary>
    /// Block-wise 8-bit dynamic codes with one fp32 absmax per block of <see cref="StateCodes.BlockSize"/> for the three
    /// moments, bf16 <c>neg_pre_grad</c> (Adan: about 5.05 bytes a parameter).
    /// </summary>
    [JsonStringEnumMemberName("8bit")]
    EightBit,
}

/// <summary>Names and layout rules of the <see cref="OptimizerStateMode"/>s.</summary>
public static class OptimizerStateModes
{
    /// <summary>The modes' names as config and checkpoints spell them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["fp32", "bf16", "8bit"];

    /// <summary>The mode's name (<c>fp32</c>, <c>bf16</c>, <c>8bit</c>).</summary>
    public static string Name(this OptimizerStateMode mode) => mode switch
    {
        OptimizerStateMode.Fp32 => "fp32",
        OptimizerStateMode.Bf16 => "bf16",
        OptimizerStateMode.EightBit => "8bit",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown optimizer state mode"),
    };

    /// <summary>The mode named <paramref name="name"/>, or null.</summary>
    public static OptimizerStateMode? TryParse(string? name) => name switch
    {
        "fp32" => OptimizerStateMode.Fp32,
        "bf16" => OptimizerStateMode.Bf16,
        "8bit" => OptimizerStateMode.EightBit,
        _ => null,
    };

    /// <summary>The mode named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">Not one of <see cref="Names"/>.</exception>
    public static OptimizerStateMode Parse(string name) => TryParse(name)
        ?? throw new ArgumentException($"Invalid optimizer_state: '{name}'; it must be one of {string.Join(", ", Names)}.", nameof(name));

    /// <summary>
    /// The flat layout's alignment for <paramref name="mode"/>: low-precision modes put every parameter and every shard
    /// boundary on a <see cref="StateCodes.BlockSize"/>-element block boundary, so blocks are defined by global element
    /// index whatever the world size and move whole when a checkpoint is resharded.
    /// </summary>
    public static int Alignment(this OptimizerStateMode mode) =>
        mode == OptimizerStateMode.Fp32 ? Flat.FlatLayout.DefaultAlignment : StateCodes.BlockSize;
}
