using System.Text.Json;
using System.Text.Json.Serialization;

namespace Adan.Sharded.Flat;

/// <summary>
/// How parameters are laid out in one contiguous fp32 buffer: registration order, every start
/// aligned to <see cref="Alignment"/> elements, the total padded to a multiple of
/// <see cref="WorldSize"/> × <see cref="Alignment"/> so that W equal shards of
/// <see cref="ShardSize"/> elements tile it. Plain data, with a stable JSON form.
/// </summary>
public sealed class FlatLayout
{
    /// <summary>Format version of the JSON form.</summary>
    public const int FormatVersion = 1;

    /// <summary>Default alignment: 16 fp32 elements = 64 bytes, one cache line and a whole number of SIMD vectors.</summary>
    public const int DefaultAlignment = 16;

    private FlatLayout(IReadOnlyList<FlatLayoutEntry> entries, int alignment, int worldSize, long totalNumel)
    {
        Entries = entries;
        Alignment = alignment;
        WorldSize = worldSize;
        TotalNumel = totalNumel;
    }

    /// <summary>The parameters in registration order.</summary>
    public IReadOnlyList<FlatLayoutEntry> Entries { get; }

    /// <summary>Alignment of every parameter's start, in elements.</summary>
    public int Alignment { get; }

    /// <summary>The number of shards the total is padded for.</summary>
    public int WorldSize { get; }

    /// <summary>Length of the flat buffer, padding included.</summary>
    public long TotalNumel { get; }

    /// <summary>Elements that belong to parameters (the rest is padding).</summary>
    public long ParameterNumel => Entries.Sum(e => e.Numel);

    /// <summary>Elements of padding (alignment gaps and the tail).</summary>
    public long PaddingNumel => TotalNumel - ParameterNumel;

    /// <summary>Length of each rank's shard: <see cref="TotalNumel"/> / <see cref="WorldSize"/>.</summary>
    public long ShardSize => TotalNumel / WorldSize;

    /// <summary>Start of rank <paramref name="rank"/>'s shard.</summary>
    public long ShardStart(int rank) => rank * ShardSize;

    /// <summary>Lays out the given parameters in order.</summary>
    public static FlatLayout Build(IEnumerable<(string Name, long[] Shape)> parameters, int worldSize, int alignment = DefaultAlignment)
    {
        if (worldSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "world size must be ≥ 1");
        }
        if (alignment < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be ≥ 1 element");
        }
        var entries = new List<FlatLayoutEntry>();
        var names = new HashSet<string>();
        long offset = 0;
        foreach (var (name, shape) in parameters)
        {
            if (!names.Add(name))
            {
                throw new ArgumentException($"parameter name '{name}' appears twice; names must be unique.", nameof(parameters));
            }
            var numel = shape.Aggregate(1L, (a, b) => a * b);
            offset = RoundUp(offset, alignment);
            entries.Add(new FlatLayoutEntry(name, (long[])shape.Clone(), offset, numel));
            offset += numel;
        }
        if (entries.Count == 0)
        {
            throw new ArgumentException("there are no parameters to lay out.", nameof(parameters));
        }
        var total = RoundUp(offset, (long)alignment * worldSize);
        return new FlatLayout(entries, alignment, worldSize, total);
    }

    /// <summary>The same parameters laid out for another world size.</summary>
    public FlatLayout ForWorldSize(int worldSize) => Build(Entries.Select(e => (e.Name, e.Shape)), worldSize, Alignment);

    /// <summary>True when both describe the same parameters (names, shapes, order), whatever the world size.</summary>
    public bool SameParameters(FlatLayout other) =>
        Entries.Count == other.Entries.Count &&
        Entries.Zip(other.Entries).All(p => p.First.Name == p.Second.Name && p.First.Shape.AsSpan().SequenceEqual(p.Second.Shape));

    /// <summary>The first difference in parameters between two layouts, or null when they match.</summary>
    public string? DescribeDifference(FlatLayout other)
    {
        for (var i = 0; i < Math.Max(Entries.Count, other.Entries.Count); i++)
        {
            var a = i < Entries.Count ? Entries[i] : null;
            var b = i < other.Entries.Count ? other.Entries[i] : null;
            if (a is null || b is null || a.Name != b.Name || !a.Shape.AsSpan().SequenceEqual(b.Shape))
            {
                return $"parameter #{i}: {Describe(a)} vs {Describe(b)}";
            }
        }
        return null;

        static string Describe(FlatLayoutEntry? e) => e is null ? "(none)" : $"{e.Name} [{string.Join(", ", e.Shape)}]";
    }

    /// <summary>The stable JSON form.</summary>
    public string ToJson() => JsonSerializer.Serialize(ToDocument(), s_json);

    /// <summary>The JSON document model (for embedding in a manifest).</summary>
    public FlatLayoutDocument ToDocument() => new(FormatVersion, Alignment, WorldSize, TotalNumel,
        Entries.Select(e => new FlatLayoutDocument.Entry(e.Name, e.Shape, e.Offset, e.Numel)).ToArray());

    /// <summary>Parses the JSON form, checking that it is self-consistent.</summary>
    public static FlatLayout FromJson(string json) =>
        FromDocument(JsonSerializer.Deserialize<FlatLayoutDocument>(json, s_json)
            ?? throw new InvalidDataException("flat layout JSON is empty"));

    /// <summary>Rebuilds a layout from its document, checking that offsets match the layout rules.</summary>
    public static FlatLayout FromDocument(FlatLayoutDocument doc)
    {
        if (doc.FormatVersion != FormatVersion)
        {
            throw new InvalidDataException($"flat layout format version {doc.FormatVersion} is not supported (expected {FormatVersion}).");
        }
        var rebuilt = Build(doc.Parameters.Select(p => (p.Name, p.Shape)), doc.WorldSize, doc.Alignment);
        for (var i = 0; i < rebuilt.Entries.Count; i++)
        {
            var p = doc.Parameters[i];
            if (rebuilt.Entries[i].Offset != p.Offset || rebuilt.Entries[i].Numel != p.Numel)
            {
                throw new InvalidDataException(
                    $"flat layout entry '{p.Name}' has offset {p.Offset} / numel {p.Numel}, but the layout rules give {rebuilt.Entries[i].Offset} / {rebuilt.Entries[i].Numel}.");
            }
        }
        if (rebuilt.TotalNumel != doc.TotalNumel)
        {
            throw new InvalidDataException($"flat layout total {doc.TotalNumel} differs from the layout rules' {rebuilt.TotalNumel}.");
        }
        return rebuilt;
    }

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
