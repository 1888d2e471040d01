using Adan.Sharded.Flat;

namespace Adan.Sharded.Tests.Flat;

/// <summary>
/// <see cref="HugePageRelease"/>: a huge page is handed back once, when the last of its elements outside the kept block
/// is reduced in the step, whatever order the buckets complete in; the buffer's last page is clipped; a new step starts
/// the count again; a range reduced twice in one step is refused.
/// </summary>
public class HugePageReleaseTests
{
    // Pages of 8 elements; a buffer of 30 (the last page has 6); the kept block is [10, 14).
    private const long Unit = 8;
    private const long Total = 30;

    private static List<(long Start, long End)> Complete(HugePageRelease pages, long start, long end)
    {
        var ready = new List<(long Start, long End)>();
        pages.Complete(start, end, keepStart: 10, keepEnd: 14, ready);
        return ready;
    }

    [Fact]
    public void APageIsReadyOnlyWhenEveryElementOutsideTheKeptBlockIsReduced()
    {
        var pages = new HugePageRelease(Total, Unit);

        Assert.Empty(Complete(pages, 20, 27));           // page 3 is [24, 30): 27..30 still pending; page 2 [16, 24) lacks 16..20
        Assert.Equal([(24L, 30L)], Complete(pages, 27, 30));
        Assert.Equal([(16L, 24L)], Complete(pages, 14, 20)); // page 1's part above the block is 14..16; page 1 also needs 8..10
        Assert.Empty(Complete(pages, 3, 5));
        Assert.Equal([(8L, 16L)], Complete(pages, 5, 10));   // 8..10 completes page 1 (10..14 is kept)
        Assert.Equal([(0L, 8L)], Complete(pages, 0, 3));
    }

    [Fact]
    public void ABucketCoveringSeveralPagesReadiesEachWholeOne()
    {
        var pages = new HugePageRelease(Total, Unit);

        Assert.Equal([(16L, 24L), (24L, 30L)], Complete(pages, 15, 30));
        Assert.Equal([(0L, 8L)], Complete(pages, 0, 9));
        Assert.Equal([(8L, 16L)], Complete(pages, 9, 15));
    }

    [Fact]
    public void EachStepCountsAfresh()
    {
        var pages = new HugePageRelease(Total, Unit);
        Assert.Equal([(0L, 8L)], Complete(pages, 0, 8));

        pages.Reset();

        Assert.Empty(Complete(pages, 0, 4));
        Assert.Equal([(0L, 8L)], Complete(pages, 4, 8));
    }

    [Fact]
    public void ARangeReducedTwiceInOneStepIsRefused()
    {
        var pages = new HugePageRelease(Total, Unit);
        Complete(pages, 16, 20);

        var error = Assert.Throws<InvalidOperationException>(() => Complete(pages, 18, 24));
        Assert.Contains("released twice in one step", error.Message);
    }
}
