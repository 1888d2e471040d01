using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Adan.Sharded.IO;

/// <summary>
/// The staging memory of checkpoint file I/O: rings of <see cref="SlotCount"/> slots of <see cref="SlotBytes"/>,
/// aligned for direct I/O, allocated once and reused for the life of the process.
/// </summary>
/// <remarks>
/// Reuse matters more than the 16 MiB: on the virtual machines this runs on, the first touch of freshly mapped memory
/// is about ten times slower than streaming through memory already mapped, so a ring allocated per save would cost
/// more than the copy through it.
/// </remarks>
internal static unsafe class StagingRings
{
    /// <summary>Bytes per slot: one read or write; large for the device, small enough to hash while in cache.</summary>
    public const int SlotBytes = 4 << 20;

    /// <summary>Slots per ring: how far the producer may run ahead of the consumer.</summary>
    public const int SlotCount = 4;

    private static readonly ConcurrentBag<IntPtr> s_free = [];

    /// <summary>A ring for the caller's exclusive use until <see cref="Return"/>.</summary>
    public static byte* Rent() =>
        (byte*)(s_free.TryTake(out var ring) ? ring : (IntPtr)NativeMemory.AlignedAlloc(SlotCount * SlotBytes, DirectFile.Alignment));

    /// <summary>Gives a ring back for reuse; the caller must no longer touch it (nor any thread it started).</summary>
    public static void Return(byte* ring) => s_free.Add((IntPtr)ring);

    /// <summary>The start of slot <paramref name="slot"/> of <paramref name="ring"/>.</summary>
    public static byte* Slot(byte* ring, int slot) => ring + (long)slot * SlotBytes;
}
