namespace Adan.Sharded.Tensors;

/// <summary>
/// A run of fp32 elements in native memory (a tensor's storage, or a piece of it) with a 64-bit length and 64-bit
/// offsets. A <see cref="Span{T}"/> holds at most <see cref="int.MaxValue"/> elements (8 GiB of fp32), which would cap
/// a shard; this holds any number and hands out spans chunk by chunk (<see cref="Chunks"/>, <see cref="this[Chunk]"/>).
/// It does not own the memory: the tensor it came from must stay alive while it is used.
/// </summary>
public readonly unsafe struct FloatMemory
{
    /// <summary>Wraps <paramref name="length"/> elements at <paramref name="pointer"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative.</exception>
    /// <exception cref="ArgumentNullException">The pointer is null for a non-empty run.</exception>
    public FloatMemory(float* pointer, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (pointer == null && length > 0)
        {
            throw new ArgumentNullException(nameof(pointer), "a non-empty run of memory needs an address.");
        }
        Pointer = pointer;
        Length = length;
    }

    /// <summary>The address of the first element.</summary>
    public float* Pointer { get; }

    /// <summary>Elements in the run.</summary>
    public long Length { get; }

    /// <summary>The elements [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside this run.</exception>
    public FloatMemory Slice(long start, long length)
    {
        if (start < 0 || length < 0 || start > Length - length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"the range [{start}, {start + length}) does not lie inside the {Length} elements of this memory.");
        }
        return new FloatMemory(Pointer + start, length);
    }

    /// <summary>The chunks, each small enough for one span (<paramref name="maxChunk"/> lower only to test chunked loops).</summary>
    public ChunkPlan Chunks(int maxChunk = ChunkPlan.SpanElements) => new(Length, maxChunk);

    /// <summary>The elements of one chunk of <see cref="Chunks"/> as a span.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The chunk does not lie inside this run.</exception>
    public Span<float> this[Chunk chunk]
    {
        get
        {
            if (chunk.Start < 0 || chunk.Length < 0 || chunk.Start > Length - chunk.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(chunk), chunk,
                    $"the chunk [{chunk.Start}, {chunk.End}) does not lie inside the {Length} elements of this memory.");
            }
            return new Span<float>(Pointer + chunk.Start, chunk.Length);
        }
    }

    /// <summary>The whole run as one span, for runs known to be small (a batch buffer, a scratch vector).</summary>
    /// <exception cref="InvalidOperationException">The run holds more than <see cref="int.MaxValue"/> elements.</exception>
    public Span<float> AsSpan()
    {
        if (Length > int.MaxValue)
        {
            throw new InvalidOperationException(
                $"{Length} elements do not fit in one span (at most {int.MaxValue}); walk them chunk by chunk with Chunks().");
        }
        return new Span<float>(Pointer, (int)Length);
    }
}
