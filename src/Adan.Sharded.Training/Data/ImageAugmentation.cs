namespace Adan.Sharded.Training.Data;

/// <summary>
/// Random crop with zero padding and horizontal flip, drawn per (seed, epoch, sample) by hashing
/// rather than from a stateful generator: a sample gets the same augmentation whichever rank reads
/// it and after a resume, so an N-rank run sees the same data as a 1-rank run.
/// </summary>
internal sealed class ImageAugmentation
{
    /// <summary>Creates the augmentation.</summary>
    /// <param name="seed">The run's seed.</param>
    /// <param name="padding">Pixels of padding on each side before cropping back to the original size.</param>
    /// <param name="horizontalFlip">Whether to flip half of the samples left-right.</param>
    public ImageAugmentation(int seed, int padding = 2, bool horizontalFlip = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        Seed = seed;
        Padding = padding;
        HorizontalFlip = horizontalFlip;
    }

    /// <summary>The seed mixed into every draw.</summary>
    public int Seed { get; }

    /// <summary>Padding in pixels on each side.</summary>
    public int Padding { get; }

    /// <summary>Whether samples may be flipped left-right.</summary>
    public bool HorizontalFlip { get; }

    /// <summary>
    /// The shift (each in <c>[-Padding, Padding]</c>) and flip for one sample in one epoch.
    /// </summary>
    public (int Dx, int Dy, bool Flip) Draw(int epoch, long sample)
    {
        var h = Mix((ulong)(uint)Seed ^ Mix(((ulong)(uint)epoch << 40) ^ (ulong)sample));
        var span = (ulong)(2 * Padding + 1);
        var dx = (int)(h % span) - Padding;
        var dy = (int)((h >> 20) % span) - Padding;
        var flip = HorizontalFlip && ((h >> 40) & 1) == 1;
        return (dx, dy, flip);
    }

    /// <summary>
    /// Writes the augmented image into <paramref name="destination"/>: pixel (y, x) comes from
    /// source (y + dy, x' + dx) with x' mirrored when flipping; out-of-range pixels are
    /// <paramref name="fill"/>. <paramref name="lookup"/> maps raw bytes to normalised values.
    /// </summary>
    public static void Apply(ReadOnlySpan<byte> source, Span<float> destination, int height, int width,
        int dx, int dy, bool flip, ReadOnlySpan<float> lookup, float fill)
    {
        for (var y = 0; y < height; y++)
        {
            var sy = y + dy;
            var row = destination.Slice(y * width, width);
            if ((uint)sy >= (uint)height)
            {
                row.Fill(fill);
                continue;
            }
            var sourceRow = source.Slice(sy * width, width);
            for (var x = 0; x < width; x++)
            {
                var sx = (flip ? width - 1 - x : x) + dx;
                row[x] = (uint)sx < (uint)width ? lookup[sourceRow[sx]] : fill;
            }
        }
    }

    // SplitMix64's finaliser: cheap, and every input bit affects every output bit.
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
