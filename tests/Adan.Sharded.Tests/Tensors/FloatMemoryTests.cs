using Adan.Sharded.Tensors;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Tensors;

/// <summary>
/// 64-bit addressing of tensor memory. The runs beyond 2³¹ elements use an address that is never read: slicing and
/// chunking are pointer arithmetic, so they are checked on 3×10⁹ elements without allocating 12 GB.
/// </summary>
public unsafe class FloatMemoryTests
{
    private const long ThreeBillion = 3_000_000_000;

    // Never dereferenced: the tests below only compute addresses from it.
    private static readonly float* s_nowhere = (float*)(nint)0x10000;

    [Fact]
    public void SlicesBeyondTwoToTheThirtyOneKeepTheirOffsets()
    {
        var memory = new FloatMemory(s_nowhere, ThreeBillion);

        var tail = memory.Slice(2_500_000_000, 500_000_000);

        Assert.Equal(500_000_000, tail.Length);
        Assert.Equal((nint)s_nowhere + 2_500_000_000L * sizeof(float), (nint)tail.Pointer);
        Assert.Equal(0, memory.Slice(ThreeBillion, 0).Length);
    }

    [Fact]
    public void ChunksOfAHugeRunAreSpansAtTheRightAddresses()
    {
        var memory = new FloatMemory(s_nowhere, ThreeBillion);
        long next = 0;
        foreach (var chunk in memory.Chunks())
        {
            var span = memory[chunk];
            Assert.Equal(chunk.Length, span.Length);
            fixed (float* p = span)
            {
                Assert.Equal((nint)(s_nowhere + next), (nint)p);
            }
            next += span.Length;
        }
        Assert.Equal(ThreeBillion, next);
    }

    [Fact]
    public void OneSpanOverAHugeRunIsRefusedWithTheFix()
    {
        var memory = new FloatMemory(s_nowhere, ThreeBillion);

        var error = Assert.Throws<InvalidOperationException>(() => memory.AsSpan());

        Assert.Contains("Chunks()", error.Message);
        Assert.Equal(int.MaxValue, new FloatMemory(s_nowhere, int.MaxValue).AsSpan().Length);
    }

    [Theory]
    [InlineData(-1L, 1L)]
    [InlineData(0L, ThreeBillion + 1)]
    [InlineData(ThreeBillion, 1L)]
    [InlineData(1L, -1L)]
    [InlineData(long.MaxValue, 2L)]
    public void SlicesOutsideTheRunAreRefused(long start, long length)
    {
        var memory = new FloatMemory(s_nowhere, ThreeBillion);

        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Slice(start, length));
    }

    [Fact]
    public void AChunkOutsideTheRunIsRefused()
    {
        var memory = new FloatMemory(s_nowhere, 10);

        Assert.Throws<ArgumentOutOfRangeException>(() => memory[new Chunk(8, 3)].Length);
    }

    [Fact]
    public void ATensorsMemoryIsItsElements()
    {
        using var t = arange(10, dtype: float32);

        var memory = TensorMemory.AsFloatMemory(t, "t");

        Assert.Equal(10, memory.Length);
        Assert.Equal(t.data<float>().ToArray(), memory.AsSpan().ToArray());
        Assert.Equal(new float[] { 3, 4, 5 }, memory[new Chunk(3, 3)].ToArray());
    }
}
