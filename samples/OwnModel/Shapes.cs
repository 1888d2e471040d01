using Adan.Sharded.Tensors;
using Adan.Sharded.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace OwnModel;

/// <summary>
/// The application's own data: 16×16 images of a bar, horizontal, vertical or on either diagonal (the four classes),
/// at a random place, on noise. Every image is computed from (seed, index) when a batch asks for it, so the set takes no
/// memory and any sample can be drawn in any order, as <see cref="IBatchDataset"/> asks; a memory-mapped file or a
/// database would implement the same two members.
/// </summary>
public sealed class Shapes : IBatchDataset
{
    public const int Classes = 4;
    public const int Size = 16;
    private const int Pixels = Size * Size;

    private readonly ulong _seed;
    private Tensor _input = empty(0);
    private Tensor _target = empty(0, dtype: int64);
    private int _capacity;

    public Shapes(long count, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Count = count;
        _seed = seed;
    }

    public long Count { get; }

    /// <summary>The batch in reused buffers (grown to the largest batch asked for, never allocated per step).</summary>
    public (Tensor Input, Tensor Target) Batch(ReadOnlySpan<long> indices)
    {
        if (indices.Length > _capacity)
        {
            _input.Dispose();
            _target.Dispose();
            _input = empty([indices.Length, 1, Size, Size]).DetachFromDisposeScope();
            _target = empty(indices.Length, dtype: int64).DetachFromDisposeScope();
            _capacity = indices.Length;
        }
        // Written straight into the buffers' memory (CPU tensors; the trainer moves batches to the model's device).
        var pixels = TensorMemory.AsFloatSpan(_input, "image batch");
        var labels = Labels(_target, indices.Length);
        for (var i = 0; i < indices.Length; i++)
        {
            labels[i] = Draw(indices[i], pixels.Slice(i * Pixels, Pixels));
        }
        return (_input.narrow(0, 0, indices.Length), _target.narrow(0, 0, indices.Length));
    }

    public void Dispose()
    {
        _input.Dispose();
        _target.Dispose();
    }

    /// <summary>Draws sample <paramref name="index"/> into <paramref name="pixels"/> and returns its class.</summary>
    private long Draw(long index, Span<float> pixels)
    {
        var state = _seed * 0x9E3779B97F4A7C15UL ^ (ulong)index;
        var label = (int)(Next(ref state) % Classes);
        var position = 2 + (int)(Next(ref state) % (Size - 4));
        for (var p = 0; p < Pixels; p++)
        {
            pixels[p] = (float)((Next(ref state) >> 40) / (double)(1UL << 24) - 0.5) * 0.6f;
        }
        for (var t = 0; t < Size; t++)
        {
            var (row, column) = label switch
            {
                0 => (position, t),
                1 => (t, position),
                2 => (t, t),
                _ => (t, Size - 1 - t),
            };
            pixels[row * Size + column] += 1f;
        }
        return label;
    }

    private static unsafe Span<long> Labels(Tensor target, int count) => new((void*)TensorMemory.DataPointer(target), count);

    /// <summary>SplitMix64: the same images on every rank, machine and run.</summary>
    private static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
