namespace Adan.Sharded.Flat;

/// <summary>The serialised form of a <c>FlatLayout</c> (in the tensor library) (snake_case JSON).</summary>
public sealed record FlatLayoutDocument(int FormatVersion, int Alignment, int WorldSize, long TotalNumel, FlatLayoutDocument.Entry[] Parameters)
{
    /// <summary>One parameter.</summary>
    public sealed record Entry(string Name, long[] Shape, long Offset, long Numel);
}
