namespace Adan.Sharded.Checkpoints;

/// <summary>One tensor entry of a safetensors header.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">The safetensors dtype, e.g. <c>F32</c>.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Begin">First byte, relative to the start of the data section.</param>
/// <param name="End">One past its last byte, relative to the start of the data section.</param>
public sealed record SafetensorsTensor(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Its number of elements.</summary>
    public long Numel => Shape.Aggregate(1L, (a, b) => a * b);
}
