using System.Runtime.InteropServices;

namespace Adan.Sharded.Flat;

/// <summary>
/// Page-level control of anonymous memory on Linux: return whole pages to the kernel while keeping
/// the address range mapped, and count how many bytes of a range are resident. Elsewhere nothing is
/// returned and the whole range counts as resident.
/// </summary>
internal static class PageMemory
{
    private const int MadvDontNeed = 4;
    private const int MadvHugePage = 14;

    /// <summary>The size huge pages have on x86-64 and arm64 Linux, used to align large buffers.</summary>
    public const long HugePageBytes = 2L * 1024 * 1024;

    /// <summary>Whether pages can be returned and counted here.</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    /// <summary>
    /// Returns the whole pages inside [start, start + bytes) to the kernel. The range stays mapped;
    /// a returned page reads as zero and is faulted in again on its next write. Returns the byte
    /// range [from, to) relative to <paramref name="start"/> that was returned (empty when none).
    /// </summary>
    public static (long From, long To) Decommit(IntPtr start, long bytes)
    {
        var page = Environment.SystemPageSize;
        var first = AlignUp(start, page);
        var last = AlignDown(start + (nint)bytes, page);
        if (!Supported || last <= first)
        {
            return (0, 0);
        }
        if (madvise(first, (nuint)(last - first), MadvDontNeed) != 0)
        {
            throw new InvalidOperationException($"madvise(MADV_DONTNEED) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
        return (first - start, last - start);
    }

    /// <summary>
    /// Asks for transparent huge pages over the whole pages of the range (a hint; ignored where
    /// the kernel has them off).
    /// </summary>
    public static void AdviseHugePages(IntPtr start, long bytes)
    {
        var page = Environment.SystemPageSize;
        var first = AlignUp(start, page);
        var last = AlignDown(start + (nint)bytes, page);
        if (Supported && last > first)
        {
            _ = madvise(first, (nuint)(last - first), MadvHugePage);
        }
    }

    /// <summary>Bytes of [start, start + bytes) in pages that are resident (whole pages counted).</summary>
    public static long ResidentBytes(IntPtr start, long bytes) =>
        ResidentBytes(start, bytes, Supported && bytes > 0 ? new byte[PagesSpanned(start, bytes)] : []);

    /// <summary>
    /// As <see cref="ResidentBytes(IntPtr, long)"/> into a caller's vector of at least <see cref="PagesSpanned"/>
    /// bytes, so that sampling often allocates nothing.
    /// </summary>
    public static unsafe long ResidentBytes(IntPtr start, long bytes, byte[] vector)
    {
        if (!Supported || bytes <= 0)
        {
            return bytes;
        }
        var page = Environment.SystemPageSize;
        var first = AlignDown(start, page);
        var end = AlignUp(start + (nint)bytes, page);
        var pages = (long)(end - first) / page;
        if (vector.Length < pages)
        {
            throw new ArgumentException($"the residency vector has {vector.Length} bytes; [start, start + {bytes}) spans {pages} pages.", nameof(vector));
        }
        fixed (byte* v = vector)
        {
            if (mincore(first, (nuint)(end - first), v) != 0)
            {
                throw new InvalidOperationException($"mincore failed with errno {Marshal.GetLastPInvokeError()}.");
            }
        }
        long resident = 0;
        for (var i = 0L; i < pages; i++)
        {
            resident += vector[i] & 1;
        }
        return resident * page;
    }

    /// <summary>How many pages [start, start + bytes) touches: the length <c>mincore</c> needs for its vector.</summary>
    public static long PagesSpanned(IntPtr start, long bytes)
    {
        var page = Environment.SystemPageSize;
        return (long)(AlignUp(start + (nint)bytes, page) - AlignDown(start, page)) / page;
    }

    private static IntPtr AlignUp(IntPtr p, long alignment) => (IntPtr)(((long)p + alignment - 1) / alignment * alignment);

    private static IntPtr AlignDown(IntPtr p, long alignment) => (IntPtr)((long)p / alignment * alignment);

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(IntPtr addr, nuint length, int advice);

    [DllImport("libc", SetLastError = true)]
    private static extern unsafe int mincore(IntPtr addr, nuint length, byte* vector);
}
