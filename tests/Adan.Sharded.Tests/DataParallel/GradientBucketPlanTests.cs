using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Tensors;

namespace Adan.Sharded.Tests.DataParallel;

/// <summary>Bucket plans of a 3×10⁹-element gradient buffer, and what one bucket beyond an MPI count becomes. Arithmetic only.</summary>
public class GradientBucketPlanTests
{
    private const long ThreeBillion = 3_000_000_000;

    [Fact]
    public void DefaultBucketsTileThreeBillionElements()
    {
        var plan = GradientBuckets.InGradientOrder(OneParameter(), GradientBuckets.DefaultBucketBytes);

        var perBucket = GradientBuckets.DefaultBucketBytes / sizeof(float);
        Assert.Equal((ThreeBillion + perBucket - 1) / perBucket, plan.Count);
        AssertTiles(plan, ThreeBillion);
        Assert.All(plan, b => Assert.Equal(0, b.Start % 16));
    }

    [Fact]
    public void ABucketBeyondOneMpiCountIsReducedInValidChunks()
    {
        // bucket_mib = 16384: 4·2³⁰ elements per bucket, more than one MPI call can carry.
        var plan = GradientBuckets.InGradientOrder(OneParameter(), 16L << 30);

        Assert.Single(plan);
        AssertTiles(plan, ThreeBillion);
        var chunks = ChunkPlan.ForMpi(plan[0].Length);
        Assert.Equal(2, chunks.Count);
        foreach (var chunk in chunks)
        {
            Assert.InRange(chunk.Length, 1, int.MaxValue);
        }
    }

    /// <summary>One parameter of 3×10⁹ elements on one rank: a multiple of the alignment, so no padding.</summary>
    private static FlatLayout OneParameter() => FlatLayout.Build([("w", [ThreeBillion])], 1);

    /// <summary>The buckets, in buffer order, cover [0, total) without gaps or overlaps.</summary>
    private static void AssertTiles(IReadOnlyList<GradientBucket> plan, long total)
    {
        long next = 0;
        foreach (var bucket in plan.OrderBy(b => b.Start))
        {
            Assert.Equal(next, bucket.Start);
            Assert.True(bucket.Length > 0);
            next = bucket.End;
        }
        Assert.Equal(total, next);
    }
}
