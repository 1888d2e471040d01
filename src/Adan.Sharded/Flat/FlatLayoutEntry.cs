namespace Adan.Sharded.Flat;

/// <summary>Where one parameter lives in the flat buffer.</summary>
/// <param name="Name">The parameter's name as the module registers it (e.g. <c>fc1.weight</c>).</param>
/// <param name="Shape">The parameter's shape.</param>
/// <param name="Offset">Index of its first element in the flat buffer (aligned).</param>
/// <param name="Numel">Its number of elements.</param>
public sealed record FlatLayoutEntry(string Name, long[] Shape, long Offset, long Numel)
{
    /// <summary>One past its last element.</summary>
    public long End => Offset + Numel;

    /// <inheritdoc />
    public bool Equals(FlatLayoutEntry? other) =>
        other is not null && Name == other.Name && Offset == other.Offset && Numel == other.Numel && Shape.AsSpan().SequenceEqual(other.Shape);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Name, Offset, Numel, Shape.Length);
}
