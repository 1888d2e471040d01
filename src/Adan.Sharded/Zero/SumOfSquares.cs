using System.Numerics;
using System.Runtime.InteropServices;
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

    /// <summary>
    /// Σ x² of a span. Four independent accumulators of 8 lanes each, so the loop runs at memory speed instead of at
    /// the latency of one chain of additions (one accumulator read 13 MB in 1.05 ms on the 2-core EPYC VM).
    /// </summary>
    public static double Of(ReadOnlySpan<float> values)
    {
        var i = 0;
        var sum = 0.0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            var acc0 = Vector256<double>.Zero;
            var acc1 = Vector256<double>.Zero;
            var acc2 = Vector256<double>.Zero;
            var acc3 = Vector256<double>.Zero;
            const int Lanes = 8;
            for (; i + 4 * Lanes <= values.Length; i += 4 * Lanes)
            {
                var (lo0, hi0) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)i));
                var (lo1, hi1) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)(i + Lanes)));
                var (lo2, hi2) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)(i + 2 * Lanes)));
                var (lo3, hi3) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)(i + 3 * Lanes)));
                acc0 += lo0 * lo0 + hi0 * hi0;
                acc1 += lo1 * lo1 + hi1 * hi1;
                acc2 += lo2 * lo2 + hi2 * hi2;
                acc3 += lo3 * lo3 + hi3 * hi3;
            }
            for (; i + Lanes <= values.Length; i += Lanes)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)i));
                acc0 += lo * lo + hi * hi;
            }
            sum = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        }
        for (; i < values.Length; i++)
        {
            sum += (double)values[i] * values[i];
        }
        return sum;
    }

    /// <summary>
    /// Σ x² of a contiguous fp32 tensor for a statistic (the gradient noise scale's local norms), never for anything that
    /// changes the parameters: on the CPU <see cref="OfStatistic(ReadOnlySpan{float})"/>, elsewhere as <see cref="Of(torch.Tensor, string)"/>.
    /// </summary>
    public static double OfStatistic(torch.Tensor values, string what)
    {
        if (values.device_type != DeviceType.CPU)
        {
            return Of(values, what);
        }
        var memory = TensorMemory.AsFloatMemory(values, what);
        var sum = 0.0;
        foreach (var chunk in memory.Chunks(ChunkPlan.SpanElements))
        {
            sum += OfStatistic(memory[chunk]);
        }
        return sum;
    }

    /// <summary>
    /// Σ x² of a span at the speed of reading it: fused multiply-adds in fp32 over blocks of <see cref="StatisticBlock"/>
    /// elements (each lane adds 32 squares, a relative error of at most ~2·10⁻⁶ for the block), each block's sum widened
    /// and added in double. Twice as fast as <see cref="Of(ReadOnlySpan{float})"/>, which widens every element, so the
    /// noise scale's extra pass costs half as much; deterministic (a fixed order), and its error is orders of magnitude
    /// below the estimator's sampling noise. Not for the clip or the finiteness check, whose sums decide updates.
    /// </summary>
    public static double OfStatistic(ReadOnlySpan<float> values)
    {
        var i = 0;
        var sum = 0.0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            const int Lanes = 8;
            var total = Vector256<double>.Zero;
            for (; i + StatisticBlock <= values.Length; i += StatisticBlock)
            {
                var acc0 = Vector256<float>.Zero;
                var acc1 = Vector256<float>.Zero;
                var acc2 = Vector256<float>.Zero;
                var acc3 = Vector256<float>.Zero;
                for (var j = i; j < i + StatisticBlock; j += 4 * Lanes)
                {
                    var v0 = Vector256.LoadUnsafe(ref start, (nuint)j);
                    var v1 = Vector256.LoadUnsafe(ref start, (nuint)(j + Lanes));
                    var v2 = Vector256.LoadUnsafe(ref start, (nuint)(j + 2 * Lanes));
                    var v3 = Vector256.LoadUnsafe(ref start, (nuint)(j + 3 * Lanes));
                    acc0 = Vector256.FusedMultiplyAdd(v0, v0, acc0);
                    acc1 = Vector256.FusedMultiplyAdd(v1, v1, acc1);
                    acc2 = Vector256.FusedMultiplyAdd(v2, v2, acc2);
                    acc3 = Vector256.FusedMultiplyAdd(v3, v3, acc3);
                }
                var (lo, hi) = Vector256.Widen((acc0 + acc1) + (acc2 + acc3));
                total += lo + hi;
            }
            sum = Vector256.Sum(total);
        }
        return sum + Of(values[i..]);
    }

    /// <summary>Elements per fp32 block of <see cref="OfStatistic(ReadOnlySpan{float})"/>: 32 squares per lane of 4 accumulators of 8 lanes.</summary>
    public const int StatisticBlock = 1024;
}
