namespace Adan.Sharded.Flat;

/// <summary>
/// Decides when ZeRO-2 may return a huge page of the flat gradient buffer: once, in the current step, every element of
/// it outside the rank's own block has been reduced. Ranges reduced bucket by bucket are counted per huge page; a page
/// is handed back whole, never piece by piece.
/// </summary>
/// <remarks>
/// Why whole huge pages: the buffer is advised to use transparent huge pages, and returning a 2 MiB page in pieces
/// splits it into 4 KiB pages of which some stay present. khugepaged (which by default collapses a region with a single
/// present page of 512) later fills such a region back up to a whole huge page, so on a long or busy run the released
/// gradients came back: a ViT whose ZeRO-2 peak was 0.61 of the buffer measured 0.99 with khugepaged scanning every
/// 100 ms. A huge page returned whole leaves nothing for it to collapse, and the next step faults it in as one huge page.
/// Offsets are in elements from the buffer's start, which lies on a huge-page boundary.
/// </remarks>
internal sealed class HugePageRelease
{
    private readonly long _total;
    private readonly long _unit;
    private readonly long[] _pending;
    private long _keepStart = -1;
    private long _keepEnd = -1;
    private bool _counting;

    /// <summary>Tracks a buffer of <paramref name="totalElements"/> elements in huge pages of <paramref name="unitElements"/>.</summary>
    public HugePageRelease(long totalElements, long unitElements)
    {
        if (totalElements < 0 || unitElements < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(unitElements), $"a buffer of {totalElements} elements in pages of {unitElements}.");
        }
        _total = totalElements;
        _unit = unitElements;
        _pending = new long[(totalElements + unitElements - 1) / unitElements];
    }

    /// <summary>Starts a new step: nothing is reduced yet.</summary>
    public void Reset() => _counting = false;

    /// <summary>
    /// Records that [<paramref name="start"/>, <paramref name="end"/>) has been reduced, with
    /// [<paramref name="keepStart"/>, <paramref name="keepEnd"/>) kept; adds to <paramref name="ready"/> each huge page
    /// (as an element range, clipped to the buffer) whose every element outside the kept block is now reduced.
    /// </summary>
    /// <exception cref="InvalidOperationException">A range was reduced twice in one step.</exception>
    public void Complete(long start, long end, long keepStart, long keepEnd, List<(long Start, long End)> ready)
    {
        if (!_counting || keepStart != _keepStart || keepEnd != _keepEnd)
        {
            Begin(keepStart, keepEnd);
        }
        Count(start, Math.Min(end, keepStart), ready);
        Count(Math.Max(start, keepEnd), end, ready);
    }

    private void Begin(long keepStart, long keepEnd)
    {
        _keepStart = keepStart;
        _keepEnd = keepEnd;
        _counting = true;
        for (var h = 0; h < _pending.Length; h++)
        {
            var (from, to) = Page(h);
            _pending[h] = to - from - Overlap(from, to, keepStart, keepEnd);
        }
    }

    private void Count(long from, long to, List<(long Start, long End)> ready)
    {
        for (var h = from / _unit; from < to && h * _unit < to; h++)
        {
            var (pageStart, pageEnd) = Page(h);
            var done = Overlap(pageStart, pageEnd, from, to);
            if (done > _pending[h])
            {
                throw new InvalidOperationException(
                    $"gradient elements [{Math.Max(from, pageStart)}, {Math.Min(to, pageEnd)}) were released twice in one step.");
            }
            _pending[h] -= done;
            if (_pending[h] == 0 && done > 0)
            {
                ready.Add((pageStart, pageEnd));
            }
        }
    }

    private (long Start, long End) Page(long h) => (h * _unit, Math.Min((h + 1) * _unit, _total));

    private static long Overlap(long aStart, long aEnd, long bStart, long bEnd) => Math.Max(0, Math.Min(aEnd, bEnd) - Math.Max(aStart, bStart));
}
