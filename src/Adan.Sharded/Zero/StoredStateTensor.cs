using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>What a stored state tensor holds per rank: one entry per element, per block, or per element of a small parameter.</summary>
public enum StateExtent
{
    /// <summary>One entry per element of the state range (a shard holds S).</summary>
    Element,

    /// <summary>One entry per <see cref="Optim.StateCodes.BlockSize"/>-element block of the state range (a shard holds S / 256).</summary>
    Block,

    /// <summary>
    /// One fp32 entry per element of a parameter below <see cref="Optim.StateCodes.SmallTensorNumel"/> elements, in
    /// layout order without padding (<see cref="SmallParameterIndex"/>); a shard holds those of its range.
    /// </summary>
    Small,
}

/// <summary>
/// One tensor of the optimizer's state as it is kept and checkpointed: in fp32 mode the rule's buffers themselves; in a
/// low-precision mode each buffer's codes (<see cref="StateExtent.Element"/>), its block scales
/// (<c>name.absmax</c>, <see cref="StateExtent.Block"/>) and its small parameters' fp32 values (<c>name.small</c>,
/// <see cref="StateExtent.Small"/>).
/// </summary>
/// <param name="Name">The checkpoint name.</param>
/// <param name="Tensor">This rank's tensor over its state range.</param>
/// <param name="Extent">What one entry stands for.</param>
public sealed record StoredStateTensor(string Name, torch.Tensor Tensor, StateExtent Extent)
{
    /// <summary>The safetensors dtype (<c>F32</c>, <c>BF16</c>, <c>U8</c>).</summary>
    public string DType => Tensor.dtype switch
    {
        torch.ScalarType.Float32 => "F32",
        torch.ScalarType.BFloat16 => "BF16",
        torch.ScalarType.Byte => "U8",
        var other => throw new NotSupportedException($"state tensor '{Name}' has dtype {other}, which checkpoints do not store."),
    };

    /// <summary>Bytes of one entry.</summary>
    public int ElementSize => (int)Tensor.ElementSize;

    /// <summary>Entries of this tensor in the flat range [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>).</summary>
    public long Count(SmallParameterIndex small, long start, long length) => Extent switch
    {
        StateExtent.Element => length,
        StateExtent.Block => length / Optim.StateCodes.BlockSize,
        _ => small.Before(start + length) - small.Before(start),
    };

    /// <summary>The offset of the flat index <paramref name="at"/> in this tensor, for a tensor whose range starts at <paramref name="start"/>.</summary>
    public long Offset(SmallParameterIndex small, long start, long at) => Count(small, start, at - start);
}
