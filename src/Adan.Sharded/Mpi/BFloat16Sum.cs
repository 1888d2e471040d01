using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Adan.Sharded.Mpi;

/// <summary>
/// An MPI reduction that sums bf16 values carried as <c>MPI_UNSIGNED_SHORT</c>: MPI (MPICH's ABI included) has no bf16
/// datatype. Each pair is added in fp32 and rounded to nearest even, as torch rounds, and as NCCL's bf16 sum rounds
/// what it sends on.
/// </summary>
internal static unsafe class BFloat16Sum
{
    private static int _op = -1;

    /// <summary>The operation's handle, created on first use (after MPI is initialised, on the thread that reduces).</summary>
    public static int Op
    {
        get
        {
            if (_op == -1)
            {
                MpiRuntime.Check(MpiNative.MPI_Op_create(&Combine, 1, out var op), "MPI_Op_create", -1);
                _op = op;
            }
            return _op;
        }
    }

    /// <summary>Rounds an fp32 value to bf16 (nearest, ties to even; NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Round(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>Widens a bf16 value to fp32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Widen(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    [UnmanagedCallersOnly]
    private static void Combine(IntPtr input, IntPtr inputOutput, int* length, int* datatype)
    {
        var a = (ushort*)input;
        var b = (ushort*)inputOutput;
        var n = *length;
        for (var i = 0; i < n; i++)
        {
            b[i] = Round(Widen(a[i]) + Widen(b[i]));
        }
    }
}
