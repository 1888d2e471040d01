using Adan.Sharded.Tensors;

namespace Adan.Sharded.Tests.Tensors;

/// <summary>
/// The one splitter of 64-bit ranges into span- and MPI-sized chunks: edge cases (empty, exact multiples, remainder,
/// one element more or less than a chunk) and the 3×10⁹-element ranges that a span or an MPI count cannot hold.
/// Pure arithmetic: nothing is allocated.
/// </summary>
public class ChunkPlanTests
{
    private const long ThreeBillion = 3_000_000_000;

    [Theory]
    [InlineData(0L, 4, new long[0])]
    [InlineData(1L, 4, new long[] { 1 })]
    [InlineData(3L, 4, new long[] { 3 })]
    [InlineData(4L, 4, new long[] { 4 })]
    [InlineData(5L, 4, new long[] { 4, 1 })]
    [InlineData(8L, 4, new long[] { 4, 4 })]
    [InlineData(11L, 4, new long[] { 4, 4, 3 })]
    [InlineData(7L, 1, new long[] { 1, 1, 1, 1, 1, 1, 1 })]
    public void ChunksTileTheRangeWithTheRemainderLast(long length, int maxChunk, long[] expected)
    {
        var plan = new ChunkPlan(length, maxChunk);

        var chunks = Walk(plan);

        Assert.Equal(expected, chunks.Select(c => (long)c.Length).ToArray());
        Assert.Equal(expected.Length, plan.Count);
        AssertTiles(plan, chunks);
    }

    [Fact]
    public void TheIndexerAgreesWithTheWalk()
    {
        var plan = new ChunkPlan(1003, 100);
        var chunks = Walk(plan);
        for (var i = 0; i < chunks.Count; i++)
        {
            Assert.Equal(chunks[i], plan[i]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => plan[chunks.Count]);
        Assert.Throws<ArgumentOutOfRangeException>(() => plan[-1]);
    }

    [Fact]
    public void ARangeBeyondASpanTakesSeveralSpans()
    {
        var plan = ChunkPlan.ForSpans(ThreeBillion);

        var chunks = Walk(plan);

        // 2³⁰ + 2³⁰ + the remainder.
        Assert.Equal(new long[] { 1L << 30, 1L << 30, ThreeBillion - (2L << 30) }, chunks.Select(c => (long)c.Length).ToArray());
        Assert.All(chunks, c => Assert.Equal(0, c.Start % 16));
        AssertTiles(plan, chunks);
    }

    [Fact]
    public void ACollectiveCountAboveIntMaxValueIsSplitIntoValidMpiCounts()
    {
        var plan = ChunkPlan.ForMpi(ThreeBillion);

        var chunks = Walk(plan);

        Assert.Equal(2, chunks.Count);
        Assert.All(chunks, c => Assert.InRange(c.Length, 1, int.MaxValue));
        // Every chunk starts 64 elements aligned, as the buffer does.
        Assert.All(chunks, c => Assert.Equal(0, c.Start % 64));
        AssertTiles(plan, chunks);
    }

    [Fact]
    public void ACountThatFitsIsOneMpiCall()
    {
        Assert.Equal(1, ChunkPlan.ForMpi(ChunkPlan.MpiElements).Count);
        Assert.Equal(2, ChunkPlan.ForMpi(ChunkPlan.MpiElements + 1L).Count);
        Assert.Equal(1, ChunkPlan.ForMpi(6_500_000).Count);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void AChunkedReduceScatterAddressesEveryBlockInsideTheBuffer(int worldSize)
    {
        // What MpiCollective does for a block beyond one count: per chunk of the block, one call per rank at
        // root·count + chunk.Start. Every address must lie in the buffer and the calls must cover it exactly once.
        var count = ThreeBillion;
        var covered = 0L;
        foreach (var chunk in ChunkPlan.ForMpi(count))
        {
            for (var root = 0; root < worldSize; root++)
            {
                var start = root * count + chunk.Start;
                Assert.InRange(start, 0, worldSize * count - chunk.Length);
                Assert.InRange(chunk.Length, 1, int.MaxValue);
                covered += chunk.Length;
            }
        }
        Assert.Equal(worldSize * count, covered);
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkPlan(-1, 4));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkPlan(10, 0));
        Assert.Contains("chunk size", error.Message);
    }

    private static List<Chunk> Walk(ChunkPlan plan)
    {
        var chunks = new List<Chunk>();
        foreach (var chunk in plan)
        {
            chunks.Add(chunk);
        }
        return chunks;
    }

    private static void AssertTiles(ChunkPlan plan, List<Chunk> chunks)
    {
        long next = 0;
        foreach (var c in chunks)
        {
            Assert.Equal(next, c.Start);
            Assert.InRange(c.Length, 1, plan.MaxChunk);
            next = c.End;
        }
        Assert.Equal(plan.Length, next);
    }
}
