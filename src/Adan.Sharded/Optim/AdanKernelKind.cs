namespace Adan.Sharded.Optim;

/// <summary>Which implementation of the Adan update an <see cref="Adan"/> optimizer uses.</summary>
public enum AdanKernelKind
{
    /// <summary>The fused CPU kernel for contiguous fp32 CPU tensors, the reference kernel otherwise.</summary>
    Auto,

    /// <summary>TorchSharp tensor operations, in the official order; any device and dtype.</summary>
    Reference,

    /// <summary>The fused CPU kernel; every tensor must be a contiguous fp32 CPU tensor.</summary>
    Fused,
}
