using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Collectives;

/// <summary>Argument checks shared by the collective backends.</summary>
internal static class TensorChecks
{
    public static void RequireReducible(torch.Tensor tensor, string operation, string what)
    {
        RequireContiguous(tensor, operation, what);
        RequireReducibleDtype(tensor, operation, what);
    }

    public static void RequireReducibleDtype(torch.Tensor tensor, string operation, string what)
    {
        if (tensor.dtype is not (torch.ScalarType.Float32 or torch.ScalarType.Float64 or torch.ScalarType.Int32 or torch.ScalarType.Int64
            or torch.ScalarType.BFloat16))
        {
            throw new ArgumentException(
                $"{operation}: {what} has dtype {tensor.dtype}; supported are Float32, Float64, Int32, Int64 and BFloat16. " +
                "Convert it (e.g. .to(torch.float32)) before the collective.", what);
        }
    }

    public static void RequireContiguous(torch.Tensor tensor, string operation, string what)
    {
        RequireContiguousOnAnyDevice(tensor, operation, what);
        if (tensor.device_type != DeviceType.CPU)
        {
            throw new ArgumentException(
                $"{operation}: {what} is on {tensor.device}; the MPI backend works on CPU memory. Move it with .cpu() or use the NCCL backend (collective=nccl).", what);
        }
    }

    public static void RequireContiguousOnAnyDevice(torch.Tensor tensor, string operation, string what)
    {
        ArgumentNullException.ThrowIfNull(tensor, what);
        if (!tensor.is_contiguous())
        {
            throw new ArgumentException(
                $"{operation}: {what} is not contiguous (shape [{string.Join(", ", tensor.shape)}], strides " +
                $"[{string.Join(", ", tensor.stride())}]); pass a contiguous tensor (call .contiguous() and copy the result back).", what);
        }
    }

    public static void RequireSameDtype(torch.Tensor a, torch.Tensor b, string operation)
    {
        if (a.dtype != b.dtype)
        {
            throw new ArgumentException($"{operation}: input has dtype {a.dtype} but output has {b.dtype}; both must match.");
        }
    }

    public static void RequireBlocks(torch.Tensor whole, torch.Tensor block, int worldSize, string operation, string wholeName, string blockName)
    {
        if (whole.numel() != block.numel() * worldSize)
        {
            throw new ArgumentException(
                $"{operation}: {wholeName} has {whole.numel()} elements, expected world size {worldSize} × {blockName} ({block.numel()}) = " +
                $"{block.numel() * worldSize}; pad the buffer to a multiple of the world size.");
        }
    }

    /// <summary>Refuses counts that are not one non-negative count per rank adding up to the buffer's elements.</summary>
    public static void RequireCounts(torch.Tensor buffer, int[] counts, int worldSize, string operation)
    {
        ArgumentNullException.ThrowIfNull(counts);
        if (counts.Length != worldSize)
        {
            throw new ArgumentException($"{operation}: {counts.Length} counts for {worldSize} ranks; give one count per rank.", nameof(counts));
        }
        long total = 0;
        foreach (var c in counts)
        {
            if (c < 0)
            {
                throw new ArgumentException($"{operation}: count {c} is negative.", nameof(counts));
            }
            total += c;
        }
        if (total != buffer.numel())
        {
            throw new ArgumentException($"{operation}: the counts add up to {total} elements but the buffer has {buffer.numel()}.", nameof(counts));
        }
    }

    /// <summary>True when <paramref name="block"/> is exactly block <paramref name="index"/> of <paramref name="whole"/> in memory.</summary>
    public static bool IsBlockOf(torch.Tensor block, torch.Tensor whole, int index)
    {
        var offset = (long)index * block.numel() * block.ElementSize;
        return TensorMemory.DataPointer(block) == TensorMemory.DataPointer(whole) + (nint)offset;
    }

    public static bool Overlaps(torch.Tensor a, torch.Tensor b)
    {
        var a0 = (long)TensorMemory.DataPointer(a);
        var b0 = (long)TensorMemory.DataPointer(b);
        return a0 < b0 + b.numel() * b.ElementSize && b0 < a0 + a.numel() * a.ElementSize;
    }
}
