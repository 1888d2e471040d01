using Adan.Sharded.Flat;

namespace Adan.Sharded.Tests.Flat;

/// <summary>
/// Which pages of a reduced bucket a ZeRO-2 rank may return: whole pages inside the bucket and outside the rank's
/// block, never one shared with the block or with a neighbouring bucket. Pages of 1024 elements (4 KiB of fp32).
/// </summary>
public class ReleasablePagesTests
{
    private const long Page = 1024;

    [Fact]
    public void ABucketOutsideTheBlockReleasesItsWholePagesOnly()
    {
        // Bucket [1000, 5000): page 0 is shared with the bucket below, page 4 with the one above.
        var (below, above) = ReleasablePages.Of(1000, 5000, 10 * Page, 20 * Page, Page);
        Assert.Equal((1 * Page, 4 * Page), below);
        Assert.Equal((0L, 0L), above);
    }

    [Fact]
    public void ABucketAboveTheBlockReleasesAbove()
    {
        var (below, above) = ReleasablePages.Of(20 * Page, 30 * Page, 10 * Page, 20 * Page, Page);
        Assert.Equal((0L, 0L), below);
        Assert.Equal((20 * Page, 30 * Page), above);
    }

    [Fact]
    public void ABucketInsideTheBlockReleasesNothing()
    {
        var (below, above) = ReleasablePages.Of(11 * Page, 19 * Page + 7, 10 * Page + 3, 20 * Page, Page);
        Assert.Equal((0L, 0L), below);
        Assert.Equal((0L, 0L), above);
    }

    [Fact]
    public void APageStraddlingTheBlockEdgeIsKeptOnBothSides()
    {
        // Block [4100, 9000): page 4 holds elements 4096..4099 of the bucket and 4100.. of the block; page 8 holds
        // block elements up to 8999 and bucket elements from 9000.
        var (below, above) = ReleasablePages.Of(0, 12 * Page, 4100, 9000, Page);
        Assert.Equal((0L, 4 * Page), below);
        Assert.Equal((9 * Page, 12 * Page), above);
    }

    [Fact]
    public void ABucketSpanningTheWholeBlockReleasesBothSides()
    {
        var (below, above) = ReleasablePages.Of(2 * Page + 1, 30 * Page - 1, 10 * Page, 20 * Page, Page);
        Assert.Equal((3 * Page, 10 * Page), below);
        Assert.Equal((20 * Page, 29 * Page), above);
    }

    [Fact]
    public void ABucketSmallerThanAPageReleasesNothing()
    {
        var (below, above) = ReleasablePages.Of(5 * Page + 10, 5 * Page + 900, 10 * Page, 20 * Page, Page);
        Assert.Equal((0L, 0L), below);
        Assert.Equal((0L, 0L), above);
    }

    [Fact]
    public void AnEmptyBlockReleasesTheBucketsWholePages()
    {
        var (below, above) = ReleasablePages.Of(100, 10 * Page, 0, 0, Page);
        Assert.Equal((0L, 0L), below);
        Assert.Equal((1 * Page, 10 * Page), above);
    }

    [Fact]
    public void SizesBeyondThirtyTwoBitsStayExact()
    {
        const long shard = 3_000_000_000;
        var (below, above) = ReleasablePages.Of(2 * shard - 5000, 2 * shard + 7000, shard, 2 * shard, Page);
        Assert.Equal((0L, 0L), below);
        Assert.Equal(((2 * shard + Page - 1) / Page * Page, (2 * shard + 7000) / Page * Page), above);
    }

    [Fact]
    public void ARangeThatIsNotOneIsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ReleasablePages.Of(10, 5, 0, 0, Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReleasablePages.Of(0, 5, 7, 3, Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReleasablePages.Of(0, 5, 0, 0, 0));
    }
}
