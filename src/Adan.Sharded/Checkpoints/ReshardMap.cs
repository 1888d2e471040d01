using Adan.Sharded.Flat;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Where the elements of a range of the new flat buffer come from in a checkpoint saved with another layout (another
/// world size or alignment): parameter p's element e sits at <c>new.Offset(p) + e</c> now and was saved at
/// <c>old.Offset(p) + e</c>, in old shard <c>(old.Offset(p) + e) / old.ShardSize</c>. Padding (the gaps that align each
/// parameter's start and the tail that rounds the total up to W × alignment) holds no parameter, so it maps to nothing
/// and the reader zero-fills it.
/// </summary>
/// <remarks>
/// Pure: no I/O, no tensors, so the mapping of the file format is tested alone over every pair of world sizes. Internal
/// because it is part of the format's implementation, not of the API; the tests reach it through InternalsVisibleTo.
/// </remarks>
internal static class ReshardMap
{
    /// <summary>
    /// The pieces of the new-layout range [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>)
    /// that hold parameter elements, in parameter order, each lying inside one old shard.
    /// </summary>
    /// <param name="layout">The layout being loaded into.</param>
    /// <param name="oldLayout">The layout the checkpoint was saved with: the same parameters in the same order.</param>
    /// <param name="start">The range's start in the new flat buffer (a rank's shard start, or 0 for replicated state).</param>
    /// <param name="length">The range's length.</param>
    /// <exception cref="ArgumentException">The layouts differ in a parameter's name or shape, in their order or in their number.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside the new flat buffer.</exception>
    public static List<Piece> Pieces(FlatLayout layout, FlatLayout oldLayout, long start, long length)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(oldLayout);
        // Elements are matched by parameter index; a renamed, reshaped, reordered or missing parameter would silently
        // load another parameter's values.
        if (layout.DescribeDifference(oldLayout) is { } difference)
        {
            throw new ArgumentException($"the layouts hold different parameters: {difference}.", nameof(oldLayout));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        if (length < 0 || start + length > layout.TotalNumel)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"the range [{start}, {start + length}) does not lie inside the flat buffer of {layout.TotalNumel} elements.");
        }
        var pieces = new List<Piece>();
        var oldShard = oldLayout.ShardSize;
        for (var i = 0; i < layout.Entries.Count; i++)
        {
            var e = layout.Entries[i];
            var from = Math.Max(e.Offset, start);
            var to = Math.Min(e.End, start + length);
            var old = oldLayout.Entries[i].Offset + (from - e.Offset);
            for (var at = from; at < to;)
            {
                var shard = (int)(old / oldShard);
                var count = Math.Min(to - at, (shard + 1) * oldShard - old);
                pieces.Add(new Piece(shard, old - shard * oldShard, at - start, count));
                at += count;
                old += count;
            }
        }
        return pieces;
    }

    /// <summary>A run of <paramref name="Count"/> elements of one old shard that lands at one place of the new range.</summary>
    /// <param name="OldShard">The old shard (the saving rank) that holds the run.</param>
    /// <param name="SourceOffset">The run's element offset inside that shard's tensors.</param>
    /// <param name="DestinationOffset">The run's element offset inside the new range.</param>
    /// <param name="Count">Elements in the run.</param>
    internal readonly record struct Piece(int OldShard, long SourceOffset, long DestinationOffset, long Count);
}
