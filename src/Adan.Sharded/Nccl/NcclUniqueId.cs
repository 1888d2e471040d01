using System.Runtime.InteropServices;

namespace Adan.Sharded.Nccl;

/// <summary>
/// NCCL's <c>ncclUniqueId</c>: 128 opaque bytes that rank 0 creates with <c>ncclGetUniqueId</c> and every rank passes, by
/// value, to <c>ncclCommInitRank</c>.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = Bytes)]
internal unsafe struct NcclUniqueId
{
    /// <summary><c>NCCL_UNIQUE_ID_BYTES</c>.</summary>
    public const int Bytes = 128;

    public fixed byte Internal[Bytes];

    /// <summary>An id from the bytes another rank sent.</summary>
    public static NcclUniqueId From(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Bytes)
        {
            throw new ArgumentException($"an ncclUniqueId has {Bytes} bytes, got {bytes.Length}.", nameof(bytes));
        }
        var id = default(NcclUniqueId);
        bytes.CopyTo(new Span<byte>(id.Internal, Bytes));
        return id;
    }

    /// <summary>Copies the bytes out, for sending them to the other ranks.</summary>
    public readonly void CopyTo(Span<byte> destination)
    {
        fixed (byte* p = Internal)
        {
            new ReadOnlySpan<byte>(p, Bytes).CopyTo(destination);
        }
    }
}
