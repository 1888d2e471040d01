using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// Single-channel images and class labels held in memory as raw bytes; <see cref="Batch"/> gathers
/// samples into reused fp32 <c>[B, 1, H, W]</c> (normalised by mean and std) and int64 <c>[B]</c> tensors.
/// </summary>
/// <remarks>
/// Bytes plus a 256-entry lookup table take a quarter of the memory of normalised floats, which
/// matters when several ranks share one host; normalising during the gather costs one table read per pixel.
/// </remarks>
internal sealed class ImageDataset : IBatchDataset
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;
    private readonly float[] _lookup = new float[256];
    private readonly BatchBuffers _buffers;

    /// <summary>Creates the dataset over <paramref name="pixels"/> (row-major <c>[N, H, W]</c>) and <paramref name="labels"/> (<c>[N]</c>).</summary>
    /// <param name="pixels">Raw 8-bit pixels of all images.</param>
    /// <param name="labels">One class per image, in <c>[0, classes)</c>.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="mean">Mean of the pixel values scaled to [0, 1], subtracted before dividing by <paramref name="std"/>.</param>
    /// <param name="std">Standard deviation of the scaled pixel values.</param>
    public ImageDataset(byte[] pixels, byte[] labels, int height, int width, float mean, float std)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(std);
        if ((long)labels.Length * height * width != pixels.Length)
        {
            throw new ArgumentException(
                $"{pixels.Length} pixels do not make {labels.Length} images of {height}x{width}.", nameof(pixels));
        }
        _pixels = pixels;
        _labels = labels;
        Height = height;
        _buffers = new BatchBuffers([1, height, width], torch.float32, []);
        Width = width;
        for (var i = 0; i < _lookup.Length; i++)
        {
            _lookup[i] = (i / 255f - mean) / std;
        }
    }

    /// <inheritdoc />
    public long Count => _labels.Length;

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>The train-time augmentation, or null for none (evaluation data).</summary>
    public ImageAugmentation? Augmentation { get; set; }

    /// <summary>
    /// The epoch mixed into the augmentation draws; the training loop sets it at each epoch so
    /// that a sample is augmented differently every epoch.
    /// </summary>
    public int Epoch { get; set; }

    /// <summary>The label of sample <paramref name="index"/>.</summary>
    public int Label(long index) => _labels[index];

    /// <inheritdoc />
    public (torch.Tensor Input, torch.Tensor Target) Batch(ReadOnlySpan<long> indices)
    {
        _buffers.Begin(indices, this);

        var pixelsPerImage = Height * Width;
        var inputs = TensorMemory.AsFloatSpan(_buffers.Input, "image batch buffer");
        var targets = LongSpan(_buffers.Target);
        var fill = _lookup[0];
        for (var b = 0; b < indices.Length; b++)
        {
            var index = indices[b];
            if ((ulong)index >= (ulong)_labels.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"Sample index must be in [0, {_labels.Length}).");
            }
            var source = new ReadOnlySpan<byte>(_pixels, checked((int)(index * pixelsPerImage)), pixelsPerImage);
            var destination = inputs.Slice(b * pixelsPerImage, pixelsPerImage);
            if (Augmentation is { } augmentation)
            {
                var (dx, dy, flip) = augmentation.Draw(Epoch, index);
                ImageAugmentation.Apply(source, destination, Height, Width, dx, dy, flip, _lookup, fill);
            }
            else
            {
                for (var p = 0; p < source.Length; p++)
                {
                    destination[p] = _lookup[source[p]];
                }
            }
            targets[b] = _labels[index];
        }
        return _buffers.First(indices.Length);
    }

    /// <inheritdoc />
    public void Dispose() => _buffers.Dispose();


    internal static unsafe Span<long> LongSpan(torch.Tensor tensor)
    {
        TensorMemory.RequireContiguousCpu(tensor, torch.ScalarType.Int64, "target buffer");
        return new Span<long>((void*)TensorMemory.DataPointer(tensor), checked((int)tensor.numel()));
    }
}
