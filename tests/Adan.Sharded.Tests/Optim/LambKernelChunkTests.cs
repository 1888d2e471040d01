using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Optim;

/// <summary>
/// The span-based loops (LAMB's two phases, Σg²) walk runs of any length chunk by chunk. With chunks lowered to a few
/// hundred elements, the chunked pass must give the one-pass result: every element bit for bit, the double sums to
/// 1e-12 relative (only the order of additions changes).
/// </summary>
public class LambKernelChunkTests
{
    [Theory]
    [InlineData(1003, 104)]
    [InlineData(1003, 100)]
    [InlineData(1000, 100)]
    [InlineData(5, 1)]
    public void ChunkedPhasesEqualOnePass(int length, int maxChunk)
    {
        var generator = new Generator(7);
        using var param = randn(length, generator: generator);
        using var grad = randn(length, generator: generator);
        var one = new[] { randn(length, generator: generator).abs_(), randn(length, generator: generator).abs_(), zeros(length), param.clone() };
        var chunked = one.Select(t => t.clone()).ToArray();
        var scalars = new LambScalars(0.01, 0.9, 0.999, 1e-6, 0.01, true, true, false, false, 3, 0.5);

        var (p1, u1) = LambKernel.ComputeUpdate(Span(param), Span(grad), Span(one[0]), Span(one[1]), Span(one[2]), scalars);
        LambKernel.ApplyUpdate(Span(one[3]), Span(one[2]), LambKernel.TrustRatio(p1, u1, scalars), scalars.LearningRate);
        var (p2, u2) = LambKernel.ComputeUpdate(Memory(param), Memory(grad), Memory(chunked[0]), Memory(chunked[1]), Memory(chunked[2]),
            scalars, maxChunk);
        LambKernel.ApplyUpdate(Memory(chunked[3]), Memory(chunked[2]), LambKernel.TrustRatio(p2, u2, scalars), scalars.LearningRate, maxChunk);

        Assert.Equal(p1, p2, 1e-12 * p1);
        Assert.Equal(u1, u2, 1e-12 * u1);
        // exp_avg, exp_avg_sq, update, param.
        for (var b = 0; b < 4; b++)
        {
            Assert.Equal(one[b].data<float>().ToArray(), chunked[b].data<float>().ToArray());
        }
    }

    [Theory]
    [InlineData(1003, 104)]
    [InlineData(1003, 100)]
    [InlineData(0, 8)]
    public void ChunkedSumOfSquaresEqualsOnePass(int length, int maxChunk)
    {
        using var values = randn(length, generator: new Generator(3));

        var chunked = SumOfSquares.Of(Memory(values), maxChunk);

        var whole = SumOfSquares.Of(Span(values));
        Assert.Equal(whole, chunked, 1e-12 * whole);
        Assert.Equal(whole, SumOfSquares.Of(Memory(values)));
    }

    private static Span<float> Span(Tensor t) => TensorMemory.AsFloatSpan(t, "t");

    private static FloatMemory Memory(Tensor t) => TensorMemory.AsFloatMemory(t, "t");
}
