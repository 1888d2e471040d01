namespace Adan.Sharded.DataParallel;

/// <summary>
/// A contiguous range [<see cref="Start"/>, <see cref="Start"/> + <see cref="Length"/>) of the flat gradient buffer
/// that is reduced as one collective, and the parameters whose elements lie in it (indices
/// <see cref="FirstParameter"/>..<see cref="LastParameter"/> of the layout; none when First &gt; Last, a bucket of
/// padding only).
/// </summary>
public readonly record struct GradientBucket(long Start, long Length, int FirstParameter, int LastParameter)
{
    /// <summary>One past the bucket's last element.</summary>
    public long End => Start + Length;
}
