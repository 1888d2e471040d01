namespace Adan.Sharded.Flat;

/// <summary>
/// Which pages of the flat gradient buffer a ZeRO-2 rank may return once a range of it (a bucket, or the whole
/// buffer) has been reduced: the whole pages inside that range and outside the rank's own block. A page that also
/// holds elements of the block, or of a neighbouring range that may still be written or in flight, is kept.
/// Offsets are in elements from the buffer's start, which lies on a page boundary.
/// </summary>
internal static class ReleasablePages
{
    /// <summary>
    /// The releasable element ranges of [<paramref name="start"/>, <paramref name="end"/>) when
    /// [<paramref name="keepStart"/>, <paramref name="keepEnd"/>) is kept: the pages below the kept block and the
    /// pages above it, each empty (Start == End) when no whole page qualifies.
    /// </summary>
    /// <param name="start">First element of the reduced range.</param>
    /// <param name="end">One past its last element.</param>
    /// <param name="keepStart">First element of this rank's block.</param>
    /// <param name="keepEnd">One past its last element.</param>
    /// <param name="pageElements">Elements per page (page size ÷ element size).</param>
    public static ((long Start, long End) Below, (long Start, long End) Above) Of(long start, long end, long keepStart, long keepEnd,
        long pageElements)
    {
        if (start < 0 || end < start)
        {
            throw new ArgumentOutOfRangeException(nameof(end), $"range [{start}, {end}) is not a range of the buffer.");
        }
        if (keepStart < 0 || keepEnd < keepStart)
        {
            throw new ArgumentOutOfRangeException(nameof(keepEnd), $"kept block [{keepStart}, {keepEnd}) is not a range of the buffer.");
        }
        if (pageElements < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(pageElements), pageElements, "a page holds at least one element.");
        }
        return (WholePages(start, Math.Min(end, keepStart), pageElements), WholePages(Math.Max(start, keepEnd), end, pageElements));
    }

    /// <summary>The whole pages inside [from, to), as an element range; empty when there are none.</summary>
    private static (long Start, long End) WholePages(long from, long to, long pageElements)
    {
        var first = (from + pageElements - 1) / pageElements * pageElements;
        var last = to / pageElements * pageElements;
        return last > first ? (first, last) : (0, 0);
    }
}
