namespace Adan.Sharded.DataParallel;

/// <summary>
/// Splits a flat gradient buffer into contiguous buckets of about <c>bucketBytes</c> each, so that
/// several nonblocking all-reduces are in flight together.
/// </summary>
public static class GradientBuckets
{
    /// <summary>Default bucket size, as PyTorch DDP: 25 MB.</summary>
    public const long DefaultBucketBytes = 25L * 1024 * 1024;

    /// <summary>(start, length) ranges in elements that tile [0, totalNumel).</summary>
    public static IReadOnlyList<(long Start, long Length)> Plan(long totalNumel, long bucketBytes, int elementSize = sizeof(float), int alignment = 16)
    {
        if (bucketBytes < elementSize)
        {
            throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, $"bucket size must be at least one element ({elementSize} bytes).");
        }
        var perBucket = Math.Max(alignment, bucketBytes / elementSize / alignment * alignment);
        var buckets = new List<(long, long)>();
        for (long start = 0; start < totalNumel; start += perBucket)
        {
            buckets.Add((start, Math.Min(perBucket, totalNumel - start)));
        }
        return buckets;
    }
}
