namespace Adan.Sharded.Flat;

/// <summary>
/// Which huge pages of the flat gradient buffer ZeRO-2 may return to the kernel, and when: only whole huge pages, only
/// those holding none of the rank's own block, and during a step each one once every element of it has been reduced.
/// Offsets are in elements from the buffer's start, which lies on a huge-page boundary; the buffer's storage runs on to
/// the end of its last huge page, so that page is returned whole too.
/// </summary>
/// <remarks>
/// Why whole huge pages: the buffer is advised to use transparent huge pages, and returning a 2 MiB page in pieces
/// splits it into 4 KiB pages of which some stay present. khugepaged (which by default collapses a region with a single
/// present page of 512) later fills such a region back up to a whole huge page, at any moment, so released gradients
/// came back: a ViT whose ZeRO-2 peak was 0.61 of the buffer measured 0.99 with khugepaged scanning every 100 ms, and a
/// block's edge page released between steps was found whole again a millisecond later. A huge page returned whole
/// leaves nothing for khugepaged to collapse, and the next step faults it in as one huge page. The price: the huge
/// pages at the edges of the rank's block stay resident whole (at most two), and a model smaller than a few huge pages
/// per rank returns nothing.
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

    /// <summary>
    /// The element ranges of the whole huge pages that hold none of [<paramref name="keepStart"/>,
    /// <paramref name="keepEnd"/>): those below it and those above it (to the end of the buffer's last huge page), each
    /// empty (Start == End) when there are none. An empty block keeps nothing.
    /// </summary>
    public ((long Start, long End) Below, (long Start, long End) Above) Outside(long keepStart, long keepEnd)
    {
        var end = _pending.Length * _unit;
        if (keepEnd <= keepStart)
        {
            return ((0, 0), (0, end));
        }
        var below = keepStart / _unit * _unit;
        var above = Math.Min(end, (keepEnd + _unit - 1) / _unit * _unit);
        return (below > 0 ? (0, below) : (0, 0), above < end ? (above, end) : (0, 0));
    }

    /// <summary>Starts a new step: nothing is reduced yet.</summary>
    public void Reset() => _counting = false;

    /// <summary>
    /// Records that [<paramref name="start"/>, <paramref name="end"/>) has been reduced, with
    /// [<paramref name="keepStart"/>, <paramref name="keepEnd"/>) kept; adds to <paramref name="ready"/> each huge page
    /// (as a whole page's element range) that holds none of the kept block and is now entirely reduced.
    /// </summary>
    /// <exception cref="InvalidOperationException">More of a page was reduced in one step than it holds.</exception>
    public void Complete(long start, long end, long keepStart, long keepEnd, List<(long Start, long End)> ready)
    {
        if (!_counting || keepStart != _keepStart || keepEnd != _keepEnd)
        {
            Begin(keepStart, keepEnd);
        }
        for (var h = start / _unit; start < end && h * _unit < end; h++)
        {
            var pageStart = h * _unit;
            var pageEnd = Math.Min(pageStart + _unit, _total);
            if (_pending[h] < 0)
            {
                continue; // Holds part of the kept block: never returned.
            }
            var done = Math.Min(end, pageEnd) - Math.Max(start, pageStart);
            if (done > _pending[h])
            {
                throw new InvalidOperationException(
                    $"gradient elements [{Math.Max(start, pageStart)}, {Math.Min(end, pageEnd)}) were released twice in one step.");
            }
            _pending[h] -= done;
            if (_pending[h] == 0)
            {
                ready.Add((pageStart, pageStart + _unit));
            }
        }
    }

    private void Begin(long keepStart, long keepEnd)
    {
        _keepStart = keepStart;
        _keepEnd = keepEnd;
        _counting = true;
        for (var h = 0; h < _pending.Length; h++)
        {
            var pageStart = h * _unit;
            var pageEnd = Math.Min(pageStart + _unit, _total);
            var holdsKept = keepEnd > keepStart && keepStart < pageEnd && keepEnd > pageStart;
            _pending[h] = holdsKept ? -1 : pageEnd - pageStart;
        }
    }
}
