using Adan.Sharded.Flat;

namespace Adan.Sharded.Tests.Flat;

/// <summary>
/// <see cref="HugePageRelease"/>: only whole huge pages that hold none of the kept block are ever returned; during a
/// step each one once all of it is reduced, whatever order the buckets complete in; the buffer's last page is returned
/// whole; a new step starts the count again; more reduced in a page than it holds is refused.
/// </summary>
public class HugePageReleaseTests
{
    // Pages of 8 elements; a buffer of 38 (pages [0,8) … [32,40), the last holding 6 elements); the kept block is [17, 20),
    // inside page 2.
    private const long Unit = 8;
    private const long Total = 38;

    private static List<(long Start, long End)> Complete(HugePageRelease pages, long start, long end)
    {
        var ready = new List<(long Start, long End)>();
        pages.Complete(start, end, keepStart: 17, keepEnd: 20, ready);
        return ready;
    }

    [Fact]
    public void APageIsReadyOnlyWhenAllOfItIsReducedInWhateverOrder()
    {
        var pages = new HugePageRelease(Total, Unit);

        Assert.Empty(Complete(pages, 27, 33));                 // page 3 lacks 24..27, page 4 lacks 33..38
        Assert.Equal([(32L, 40L)], Complete(pages, 33, 38));    // the last page whole, past the buffer's end
        Assert.Equal([(24L, 32L)], Complete(pages, 20, 27));    // page 2 holds the block: never ready
        Assert.Empty(Complete(pages, 2, 5));
        Assert.Equal([(8L, 16L)], Complete(pages, 5, 16));      // page 0 still lacks 0..2
        Assert.Equal([(0L, 8L)], Complete(pages, 0, 2));
        Assert.Empty(Complete(pages, 16, 17));
    }

    [Fact]
    public void PagesHoldingTheKeptBlockAreNeverReturned()
    {
        var pages = new HugePageRelease(Total, Unit);

        Assert.Equal(((0L, 16L), (24L, 40L)), pages.Outside(17, 20));
        Assert.Equal(((0L, 16L), (24L, 40L)), pages.Outside(16, 24));
        Assert.Equal(((0L, 8L), (32L, 40L)), pages.Outside(15, 25));
        Assert.Equal(((0L, 0L), (0L, 0L)), pages.Outside(3, 38));
        Assert.Equal(((0L, 0L), (0L, 40L)), pages.Outside(0, 0));
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
    public void MoreReducedInAPageThanItHoldsIsRefused()
    {
        var pages = new HugePageRelease(Total, Unit);
        Complete(pages, 24, 28);

        var error = Assert.Throws<InvalidOperationException>(() => Complete(pages, 26, 32));
        Assert.Contains("released twice in one step", error.Message);
    }
}
