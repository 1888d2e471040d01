using System.Runtime.InteropServices;
using TorchSharp;

namespace Adan.Sharded.Tensors;

/// <summary>
/// Raw access to a tensor's memory, for zero-copy collectives and fused kernels.
/// TorchSharp 0.107 has no public <c>data_ptr()</c>; LibTorchSharp exports <c>THSTensor_data</c>,
/// which returns <c>at::Tensor::data_ptr()</c> (storage offset included).
/// </summary>
public static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>The address of the tensor's first element.</summary>
    public static IntPtr DataPointer(torch.Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return THSTensor_data(tensor.Handle);
    }

    /// <summary>
    /// The tensor's memory as <see cref="FloatMemory"/> (64-bit length, any size), after checking that it is a
    /// contiguous fp32 CPU tensor. <paramref name="what"/> names the tensor in the error.
    /// </summary>
    public static unsafe FloatMemory AsFloatMemory(torch.Tensor tensor, string what)
    {
        RequireContiguousCpu(tensor, torch.ScalarType.Float32, what);
        return new FloatMemory((float*)DataPointer(tensor), tensor.numel());
    }

    /// <summary>
    /// The tensor's memory as one span of <see cref="float"/>, for tensors known to be small (a batch buffer); flat
    /// buffers and shards, which may exceed a span's <see cref="int.MaxValue"/> elements, use
    /// <see cref="AsFloatMemory"/>. <paramref name="what"/> names the tensor in the error.
    /// </summary>
    public static Span<float> AsFloatSpan(torch.Tensor tensor, string what)
    {
        var memory = AsFloatMemory(tensor, what);
        if (memory.Length > int.MaxValue)
        {
            throw new ArgumentException(
                $"{what} has {memory.Length} elements, more than one span holds ({int.MaxValue}); use TensorMemory.AsFloatMemory and walk it chunk by chunk.", what);
        }
        return memory.AsSpan();
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless the tensor is contiguous, on the CPU and of
    /// the given dtype; the message names the tensor, what is wrong and the fix.
    /// </summary>
    public static void RequireContiguousCpu(torch.Tensor tensor, torch.ScalarType dtype, string what)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.dtype != dtype)
        {
            throw new ArgumentException(
                $"{what} has dtype {tensor.dtype}, expected {dtype}; convert it with .to({dtype}) first.", what);
        }
        if (!tensor.is_contiguous())
        {
            throw new ArgumentException(
                $"{what} is not contiguous (shape [{string.Join(", ", tensor.shape)}], strides [{string.Join(", ", tensor.stride())}]); " +
                "call .contiguous() first or pass a contiguous buffer.", what);
        }
        if (tensor.device_type != DeviceType.CPU)
        {
            throw new ArgumentException(
                $"{what} is on {tensor.device}, expected the CPU for this backend; move it with .cpu() or use a GPU backend.", what);
        }
    }
}
