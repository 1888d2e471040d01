namespace Adan.Sharded.Optim;

/// <summary>Which implementation of the LAMB update a <see cref="Zero.ShardedLamb"/> uses.</summary>
public enum LambKernelKind
{
    /// <summary>The CPU kernel (<see cref="LambKernel"/>) for CPU memory, tensor operations elsewhere (CUDA).</summary>
    Auto,

    /// <summary>TorchSharp tensor operations on the flat shard, in timm's order; any device.</summary>
    Reference,

    /// <summary>The CPU kernel; the flat buffers must be contiguous fp32 CPU tensors.</summary>
    Fused,
}
