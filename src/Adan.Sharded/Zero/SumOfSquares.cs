using System.Numerics;
using System.Runtime.Intrinsics;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>Σ x² over fp32 memory, accumulated in double (the global-norm clip and the finiteness check both use it).</summary>
internal static class SumOfSquares
{
    /// <summary>Σ x² over a run of any length, chunk by chunk (<paramref name="maxChunk"/> lower only in tests).</summary>
    public static double Of(FloatMemory values, int maxChunk = ChunkPlan.SpanElements)
    {
        var sum = 0.0;
        foreach (var chunk in values.Chunks(maxChunk))
        {
            sum += Of(values[chunk]);
        }
        return sum;
    }

    /// <summary>
    /// Σ x² of a contiguous fp32 tensor in double: on the CPU over its memory, elsewhere one float64 reduction and one
    /// copy to the host.
    /// </summary>
    public static double Of(torch.Tensor values, string what)
    {
        if (values.device_type == DeviceType.CPU)
        {
            return Of(TensorMemory.AsFloatMemory(values, what));
        }
        using var squares = values.square();
        using var sum = squares.sum(type: torch.ScalarType.Float64);
        return sum.item<double>();
    }

    /// <summary>Adds Σ x² of a device tensor into a float64 scalar on the same device, leaving the host free to go on.</summary>
    public static void AddTo(torch.Tensor values, torch.Tensor accumulator)
    {
        using var squares = values.square();
        using var sum = squares.sum(type: torch.ScalarType.Float64);
        accumulator.add_(sum);
    }

    public static double Of(ReadOnlySpan<float> values)
    {
        var i = 0;
        var acc = Vector256<double>.Zero;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
            {
                var v = Vector256.Create(values.Slice(i, Vector256<float>.Count));
                var (lo, hi) = Vector256.Widen(v);
                acc += lo * lo + hi * hi;
            }
        }
        var sum = Vector256.Sum(acc);
        for (; i < values.Length; i++)
        {
            sum += (double)values[i] * values[i];
        }
        return sum;
    }
}
