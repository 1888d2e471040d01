using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Optim;

/// <summary>
/// The fused kernel against the reference kernel on seeded random data: sizes around the SIMD
/// width and above the multi-threading threshold, both prox modes, clipping, several steps.
/// Tolerance: 1e-5 + 1e-5·|ref| on parameters, the golden state tolerance on buffers.
/// </summary>
public class AdanKernelTests
{
    [Theory]
    [InlineData(1, 1, false)]
    [InlineData(7, 1, true)]
    [InlineData(8, 2, false)]
    [InlineData(17, 4, true)]
    [InlineData(1003, 1, false)]
    [InlineData((1 << 16) + 5, 2, true)]
    [InlineData(300_007, 3, false)]
    [InlineData(300_007, 2, true)]
    public void FusedMatchesReference(int size, int threads, bool noProx)
    {
        var generator = new Generator((ulong)size);
        using var param = randn(size, generator: generator);
        var reference = Buffers(param);
        var fused = Buffers(param);

        for (var step = 1; step <= 4; step++)
        {
            using var grad = randn(size, generator: generator) * (step * 3.0);
            var scalars = new AdanScalars(lr: 0.01 * step, beta1: 0.98, beta2: 0.92, beta3: 0.99, eps: 1e-8, weightDecay: 0.05,
                noProx, step, clipCoef: step == 2 ? 0.37 : 1.0);
            AdanKernel.ReferenceStep(reference[0], grad, reference[1], reference[2], reference[3], reference[4], scalars, step == 1);
            AdanKernel.FusedStep(Span(fused[0]), Span(grad), Span(fused[1]), Span(fused[2]), Span(fused[3]), Span(fused[4]),
                scalars, step == 1, threads);

            var what = $"size {size}, threads {threads}, no_prox {noProx}, step {step}";
            Tolerance.AssertClose(Span(fused[0]), Span(reference[0]), 1e-5, 1e-5, $"{what}: param");
            string[] names = ["exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"];
            for (var b = 1; b < 5; b++)
            {
                Tolerance.AssertStateClose(Span(fused[b]), Span(reference[b]), $"{what}: {names[b - 1]}");
            }
        }
    }

    [Fact]
    public void FusedOnSliceLeavesTheRestUntouched()
    {
        const int Length = 100;
        const int Start = 13;
        const int Count = 41;
        var buffers = Enumerable.Range(0, 6).Select(i => Enumerable.Range(0, Length).Select(j => (float)(i + j * 0.01)).ToArray()).ToArray();
        var before = buffers.Select(b => (float[])b.Clone()).ToArray();
        var scalars = new AdanScalars(1e-3, 0.98, 0.92, 0.99, 1e-8, 0.0, false, 3, 1.0);

        AdanKernel.FusedStep(buffers[0].AsSpan(Start, Count), buffers[1].AsSpan(Start, Count), buffers[2].AsSpan(Start, Count),
            buffers[3].AsSpan(Start, Count), buffers[4].AsSpan(Start, Count), buffers[5].AsSpan(Start, Count), scalars, false, 2);

        foreach (var b in new[] { 0, 2, 3, 4, 5 })
        {
            Assert.Equal(before[b][..Start], buffers[b][..Start]);
            Assert.Equal(before[b][(Start + Count)..], buffers[b][(Start + Count)..]);
            Assert.NotEqual(before[b][Start..(Start + Count)], buffers[b][Start..(Start + Count)]);
        }
        Assert.Equal(before[1], buffers[1]);
    }

    [Fact]
    public void FusedRejectsMismatchedLengths()
    {
        var scalars = new AdanScalars(1e-3, 0.98, 0.92, 0.99, 1e-8, 0.0, false, 1, 1.0);
        var ok = new float[8];
        var error = Assert.Throws<ArgumentException>(() =>
            AdanKernel.FusedStep(ok, ok, ok, new float[7], ok, ok, scalars, true, 1));
        Assert.Equal("expAvgSq", error.ParamName);
    }

    [Fact]
    public void PartsCoverTheRangeOnCacheLineBoundaries()
    {
        foreach (var length in new long[] { 0, 1, 15, 16, 17, 1 << 20, (1 << 20) + 3 })
        {
            foreach (var parts in new[] { 1, 2, 3, 7 })
            {
                long next = 0;
                for (var part = 0; part < parts; part++)
                {
                    var (start, end) = AdanKernel.PartRange(length, part, parts);
                    Assert.Equal(next, start);
                    Assert.True(start % 16 == 0 || start == length, $"length {length}, part {part}/{parts} starts at {start}");
                    next = end;
                }
                Assert.Equal(length, next);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(16)]
    public void ThreadPartsSplitARangeBeyondTwoToTheThirtyOne(int threads)
    {
        // A 3×10⁹-element shard: every thread gets its share (one thread all of it) as a 64-bit range on a cache line.
        const long Length = 3_000_000_000;
        var parts = AdanKernel.PartsFor(Length, threads);
        Assert.Equal(threads, parts);
        long next = 0;
        for (var part = 0; part < parts; part++)
        {
            var (start, end) = AdanKernel.PartRange(Length, part, parts);
            Assert.Equal(next, start);
            Assert.Equal(0, start % 16);
            Assert.InRange(end - start, Length / parts - 16, Length / parts + 16);
            next = end;
        }
        Assert.Equal(Length, next);
    }

    [Fact]
    public void FusedOnFloatMemoryEqualsFusedOnSpans()
    {
        // The 64-bit entry point the sharded optimizers use, on a slice of each buffer, bit for bit the span path.
        const int Length = 300_007;
        const long Start = 1_001;
        const long Count = 250_003;
        var generator = new Generator(11);
        var viaSpans = Enumerable.Range(0, 6).Select(_ => randn(Length, generator: generator)).ToArray();
        var viaMemory = viaSpans.Select(t => t.clone()).ToArray();
        var scalars = new AdanScalars(1e-3, 0.98, 0.92, 0.99, 1e-8, 0.02, false, 3, 0.5);

        AdanKernel.FusedStep(Span(viaSpans[0]).Slice((int)Start, (int)Count), Span(viaSpans[1]).Slice((int)Start, (int)Count),
            Span(viaSpans[2]).Slice((int)Start, (int)Count), Span(viaSpans[3]).Slice((int)Start, (int)Count),
            Span(viaSpans[4]).Slice((int)Start, (int)Count), Span(viaSpans[5]).Slice((int)Start, (int)Count), scalars, false, 2);
        var m = viaMemory.Select(t => TensorMemory.AsFloatMemory(t, "tensor").Slice(Start, Count)).ToArray();
        AdanKernel.FusedStep(m[0], m[1], m[2], m[3], m[4], m[5], scalars, false, 2);

        for (var b = 0; b < 6; b++)
        {
            Assert.Equal(viaSpans[b].data<float>().ToArray(), viaMemory[b].data<float>().ToArray());
        }
    }

    private static Tensor[] Buffers(Tensor param) =>
    [
        param.clone(),
        zeros_like(param),
        zeros_like(param),
        zeros_like(param),
        zeros_like(param),
    ];

    private static Span<float> Span(Tensor tensor) => TensorMemory.AsFloatSpan(tensor, "tensor");
}
