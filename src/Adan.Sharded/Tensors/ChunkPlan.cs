namespace Adan.Sharded.Tensors;

/// <summary>
/// A 64-bit element range [0, <see cref="Length"/>) cut into consecutive chunks of at most <see cref="MaxChunk"/>
/// elements, the last one taking the remainder. Sizes are 64-bit everywhere in this library; this is how that code
/// reaches the APIs that count in 32 bits: .NET spans (<see cref="ForSpans"/>) and MPI's <c>int count</c>
/// (<see cref="ForMpi"/>). Enumerating it allocates nothing.
/// </summary>
public readonly struct ChunkPlan
{
    /// <summary>
    /// The largest chunk a span-based loop takes: 2³⁰ elements. A power of two, so every chunk starts on the same SIMD
    /// and cache-line alignment as the range itself.
    /// </summary>
    public const int SpanElements = 1 << 30;

    /// <summary>
    /// The largest count one MPI call takes: <see cref="int.MaxValue"/> rounded down to a multiple of 64 elements, so
    /// every chunk starts as aligned as the buffer. Below it a collective is one call, as it always was.
    /// </summary>
    public const int MpiElements = int.MaxValue / 64 * 64;

    /// <summary>Plans <paramref name="length"/> elements in chunks of at most <paramref name="maxChunk"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative or the chunk size below 1.</exception>
    public ChunkPlan(long length, int maxChunk)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (maxChunk < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxChunk), maxChunk, $"Invalid chunk size: {maxChunk}; it must be 1 or more elements.");
        }
        Length = length;
        MaxChunk = maxChunk;
    }

    /// <summary>Elements in the whole range.</summary>
    public long Length { get; }

    /// <summary>The most elements in one chunk.</summary>
    public int MaxChunk { get; }

    /// <summary>The number of chunks: 0 for an empty range, otherwise ⌈<see cref="Length"/> / <see cref="MaxChunk"/>⌉.</summary>
    public long Count => Length == 0 ? 0 : (Length - 1) / MaxChunk + 1;

    /// <summary>Chunk <paramref name="index"/>: every one is <see cref="MaxChunk"/> long but the last.</summary>
    public Chunk this[long index]
    {
        get
        {
            if (index < 0 || index >= Count)
            {
                throw new ArgumentOutOfRangeException(nameof(index), index, $"chunk index must be in [0, {Count}).");
            }
            var start = index * MaxChunk;
            return new Chunk(start, (int)Math.Min(MaxChunk, Length - start));
        }
    }

    /// <summary>Chunks small enough for one <see cref="Span{T}"/> each.</summary>
    public static ChunkPlan ForSpans(long length) => new(length, SpanElements);

    /// <summary>Chunks small enough for one MPI call each (<paramref name="maxCount"/> lower only to test the chunked path).</summary>
    public static ChunkPlan ForMpi(long count, int maxCount = MpiElements) => new(count, maxCount);

    /// <summary>The chunks in order.</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>Walks the chunks without allocating.</summary>
    public struct Enumerator
    {
        private readonly ChunkPlan _plan;
        private long _next;

        internal Enumerator(ChunkPlan plan)
        {
            _plan = plan;
            _next = 0;
            Current = default;
        }

        /// <summary>The current chunk.</summary>
        public Chunk Current { get; private set; }

        /// <summary>Moves to the next chunk; false after the last.</summary>
        public bool MoveNext()
        {
            if (_next >= _plan.Length)
            {
                return false;
            }
            var length = (int)Math.Min(_plan.MaxChunk, _plan.Length - _next);
            Current = new Chunk(_next, length);
            _next += length;
            return true;
        }
    }
}

/// <summary>One piece of a <see cref="ChunkPlan"/>: <paramref name="Length"/> elements from <paramref name="Start"/>.</summary>
/// <param name="Start">The first element, counted from the start of the planned range.</param>
/// <param name="Length">Elements in the chunk (at least 1, at most the plan's <see cref="ChunkPlan.MaxChunk"/>).</param>
public readonly record struct Chunk(long Start, int Length)
{
    /// <summary>One past the last element.</summary>
    public long End => Start + Length;
}
