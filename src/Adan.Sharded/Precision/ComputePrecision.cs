using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Sharded.Precision;

/// <summary>
/// The dtype a model computes in, as against the fp32 master copy that <see cref="Flat.FlatParameters"/> keeps and the
/// optimizer updates: <see cref="Fp32"/> (the master is the model) or <see cref="Bf16Mixed"/> (the model's parameters
/// and gradients are a bf16 copy; PyTorch FSDP's <c>MixedPrecision(param_dtype=bfloat16)</c>).
/// </summary>
/// <remarks>
/// [Note: what stays fp32 under bf16-mixed] Normalisation modules (<see cref="KeepsFp32"/>: BatchNorm, LayerNorm,
/// GroupNorm) keep fp32 parameters and buffers and compute in fp32: their input is widened and their output narrowed
/// back (<see cref="MixedPrecisionModel"/>), so batch statistics, running statistics and the normalisation itself are
/// fp32, as autocast runs them; their weights are the bf16 copy widened, identical on every rank. The model's output
/// is widened to fp32 before the loss, so the loss and its softmax are fp32. No loss scaling: bf16 has fp32's
/// exponent range.
/// </remarks>
public sealed record ComputePrecision
{
    private ComputePrecision(torch.ScalarType computeType) => ComputeType = computeType;

    /// <summary>The model is the fp32 master: nothing is copied or cast.</summary>
    public static ComputePrecision Fp32 { get; } = new(torch.ScalarType.Float32);

    /// <summary>The model computes in a bf16 copy of the fp32 master; gradients come out of backward in bf16.</summary>
    public static ComputePrecision Bf16Mixed { get; } = new(torch.ScalarType.BFloat16);

    /// <summary>The dtype of the model's parameters and gradients.</summary>
    public torch.ScalarType ComputeType { get; }

    /// <summary>Whether the model computes in another dtype than the fp32 master.</summary>
    public bool IsMixed => ComputeType != torch.ScalarType.Float32;

    /// <summary>Bytes of one compute element (2 for bf16, 4 for fp32).</summary>
    public int ElementBytes => IsMixed ? 2 : 4;

    /// <summary>Whether a module stays fp32 under mixed precision: the normalisation layers.</summary>
    public static bool KeepsFp32(torch.nn.Module module) =>
        module is BatchNorm1d or BatchNorm2d or BatchNorm3d or LayerNorm or GroupNorm;

    /// <inheritdoc />
    public override string ToString() => IsMixed ? "bf16-mixed" : "fp32";
}
