using Adan.Sharded.Flat;

namespace Adan.Sharded.Zero;

/// <summary>The part of one parameter inside a rank's state range, as the sharded optimizers walk it.</summary>
/// <param name="Parameter">Index of the parameter in the layout.</param>
/// <param name="Group">Index of its parameter group.</param>
/// <param name="LocalStart">First element, relative to the start of the state range.</param>
/// <param name="Length">Elements of the parameter inside the range.</param>
public readonly record struct ShardSegment(int Parameter, int Group, long LocalStart, long Length)
{
    /// <summary>
    /// The segments of [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>) in layout order;
    /// parameters in no group (<paramref name="groupOfParameter"/> &lt; 0) and padding have none.
    /// </summary>
    public static ShardSegment[] Of(FlatLayout layout, long start, long length, int[] groupOfParameter)
    {
        var segments = new List<ShardSegment>();
        for (var i = 0; i < layout.Entries.Count; i++)
        {
            var e = layout.Entries[i];
            var from = Math.Max(e.Offset, start);
            var to = Math.Min(e.End, start + length);
            if (to > from && groupOfParameter[i] >= 0)
            {
                segments.Add(new ShardSegment(i, groupOfParameter[i], from - start, to - from));
            }
        }
        return [.. segments];
    }
}
