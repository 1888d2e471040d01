using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Adan.Sharded.Optim;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// A STREAM-style triad a = b + s·c on the optimizer kernel's thread pool, the memory bandwidth
/// the fused kernel is judged against. Bytes counted as STREAM does: 12 per element.
/// </summary>
internal sealed unsafe class StreamTriad : IDisposable
{
    private readonly float* _a;
    private readonly float* _b;
    private readonly float* _c;
    private readonly long _length;

    /// <summary>Allocates and touches three buffers of <paramref name="length"/> floats each.</summary>
    public StreamTriad(long length)
    {
        _length = length;
        var bytes = (nuint)(length * sizeof(float));
        _a = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        _b = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        _c = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        new Span<float>(_a, checked((int)length)).Fill(0f);
        new Span<float>(_b, checked((int)length)).Fill(1f);
        new Span<float>(_c, checked((int)length)).Fill(2f);
    }

    /// <summary>Runs <paramref name="warmup"/> untimed and <paramref name="repetitions"/> timed triads; returns the median GB/s.</summary>
    public double MeasureGbps(int threads, int warmup, int repetitions)
    {
        var context = new Context { A = _a, B = _b, C = _c, Length = _length, Scalar = 3f, Parts = threads };
        for (var i = 0; i < warmup; i++)
        {
            KernelWorkerPool.Shared.Run(threads, &RunPart, &context);
        }
        var seconds = new double[repetitions];
        for (var i = 0; i < repetitions; i++)
        {
            var start = Stopwatch.GetTimestamp();
            KernelWorkerPool.Shared.Run(threads, &RunPart, &context);
            seconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return 3.0 * sizeof(float) * _length / Statistics.Median(seconds) / 1e9;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_a);
        NativeMemory.AlignedFree(_b);
        NativeMemory.AlignedFree(_c);
    }

    private static void RunPart(void* state, int part)
    {
        ref readonly var c = ref *(Context*)state;
        var (start, end) = AdanKernel.PartRange(c.Length, part, c.Parts);
        var scalar = Vector256.Create(c.Scalar);
        var i = start;
        for (; i <= end - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            Vector256.MultiplyAddEstimate(Vector256.Load(c.C + i), scalar, Vector256.Load(c.B + i)).Store(c.A + i);
        }
        for (; i < end; i++)
        {
            c.A[i] = c.B[i] + c.Scalar * c.C[i];
        }
    }

    private struct Context
    {
        public float* A;
        public float* B;
        public float* C;
        public long Length;
        public float Scalar;
        public int Parts;
    }
}
