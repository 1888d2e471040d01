using Adan.Sharded.Flat;

namespace Adan.Sharded.DataParallel;

/// <summary>
/// Splits a flat gradient buffer into contiguous buckets of about <c>bucketBytes</c> each, so that several
/// nonblocking collectives are in flight together, and each can start once backward has written its gradients.
/// </summary>
public static class GradientBuckets
{
    /// <summary>Default bucket size, as PyTorch DDP: 25 MB.</summary>
    public const long DefaultBucketBytes = 25L * 1024 * 1024;

    /// <summary>
    /// Buckets in the order backward produces gradients, as PyTorch DDP builds them: from the last parameter of the
    /// layout to the first (backward runs the layers in reverse registration order), each bucket closed at a
    /// parameter boundary once the next parameter would take it past <paramref name="bucketBytes"/>; a parameter
    /// larger than that alone is cut into pieces of about that size. The buckets tile [0, TotalNumel): the padding
    /// after a parameter travels with it, the tail padding with the first bucket. The flat layout itself is not
    /// changed, so shards and checkpoints stay as they are.
    /// </summary>
    public static IReadOnlyList<GradientBucket> InGradientOrder(FlatLayout layout, long bucketBytes, int elementSize = sizeof(float),
        int alignment = 16)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (bucketBytes < elementSize)
        {
            throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, $"bucket size must be at least one element ({elementSize} bytes).");
        }
        var perBucket = Math.Max(alignment, bucketBytes / elementSize / alignment * alignment);
        var buckets = new List<GradientBucket>();
        var entries = layout.Entries;
        var end = layout.TotalNumel;
        var last = entries.Count - 1;
        for (var i = entries.Count - 1; i >= 0; i--)
        {
            var start = entries[i].Offset;
            if (end - start <= perBucket)
            {
                // The bucket grows by this parameter; it closes when the one before would not fit or when none is left.
                if (i == 0 || end - entries[i - 1].Offset > perBucket)
                {
                    buckets.Add(new GradientBucket(start, end - start, i, last));
                    end = start;
                    last = i - 1;
                }
                continue;
            }
            // A parameter larger than a bucket (the bucket above it was closed when this one would not fit): cut it
            // from its end, and let its lowest piece take in the parameters before it.
            while (end - start > perBucket)
            {
                buckets.Add(new GradientBucket(end - perBucket, perBucket, i, i));
                end -= perBucket;
            }
            if (i == 0 || end - entries[i - 1].Offset > perBucket)
            {
                buckets.Add(new GradientBucket(start, end - start, i, i));
                end = start;
                last = i - 1;
            }
            else
            {
                last = i;
            }
        }
        if (end > 0 || buckets.Count == 0)
        {
            buckets.Add(new GradientBucket(0, end, 0, last));
        }
        return buckets;
    }
}
