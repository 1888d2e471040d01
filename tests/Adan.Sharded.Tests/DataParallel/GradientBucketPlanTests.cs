using Adan.Sharded.DataParallel;
using Adan.Sharded.Tensors;

namespace Adan.Sharded.Tests.DataParallel;

/// <summary>Bucket plans of a 3×10⁹-element gradient buffer, and what one bucket beyond an MPI count becomes. Arithmetic only.</summary>
public class GradientBucketPlanTests
{
    private const long ThreeBillion = 3_000_000_000;

    [Fact]
    public void DefaultBucketsTileThreeBillionElements()
    {
        var plan = GradientBuckets.Plan(ThreeBillion, GradientBuckets.DefaultBucketBytes);

        var perBucket = GradientBuckets.DefaultBucketBytes / sizeof(float);
        Assert.Equal((ThreeBillion + perBucket - 1) / perBucket, plan.Count);
        AssertTiles(plan, ThreeBillion);
        Assert.All(plan, b => Assert.Equal(0, b.Start % 16));
    }

    [Fact]
    public void ABucketBeyondOneMpiCountIsReducedInValidChunks()
    {
        // bucket_mib = 16384: 4·2³⁰ elements per bucket, more than one MPI call can carry.
        var plan = GradientBuckets.Plan(ThreeBillion, 16L << 30);

        Assert.Single(plan);
        AssertTiles(plan, ThreeBillion);
        var chunks = ChunkPlan.ForMpi(plan[0].Length);
        Assert.Equal(2, chunks.Count);
        foreach (var chunk in chunks)
        {
            Assert.InRange(chunk.Length, 1, int.MaxValue);
        }
    }

    private static void AssertTiles(IReadOnlyList<(long Start, long Length)> plan, long total)
    {
        long next = 0;
        foreach (var (start, length) in plan)
        {
            Assert.Equal(next, start);
            Assert.True(length > 0);
            next = start + length;
        }
        Assert.Equal(total, next);
    }
}
