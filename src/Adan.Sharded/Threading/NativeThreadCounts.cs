namespace Adan.Sharded.Threading;

/// <summary>
/// The thread counts the math libraries under libtorch will use on the calling thread, read from the libraries
/// themselves: OpenMP's <c>omp_get_max_threads</c> (libgomp, loaded beside libtorch) and MKL's
/// <c>mkl_get_max_threads</c> (linked into libtorch_cpu).
/// </summary>
/// <remarks>
/// <c>torch.get_num_threads</c> cannot tell: it first initialises the calling thread to the count last given to
/// <c>torch.set_num_threads</c> on any thread, so it always answers that count, while MKL's matrix products, called
/// outside torch's parallel regions, still use the thread's own (default all-cores) count.
/// </remarks>
public static unsafe class NativeThreadCounts
{
    private static readonly Lazy<(IntPtr OpenMp, IntPtr Mkl)> s_functions = new(Resolve);

    /// <summary>OpenMP's thread count for the calling thread; null where libtorch's OpenMP runtime is not loaded.</summary>
    public static int? OpenMp => s_functions.Value.OpenMp != IntPtr.Zero ? ((delegate* unmanaged<int>)s_functions.Value.OpenMp)() : null;

    /// <summary>MKL's thread count for the calling thread; null where libtorch has no MKL.</summary>
    public static int? Mkl => s_functions.Value.Mkl != IntPtr.Zero ? ((delegate* unmanaged<int>)s_functions.Value.Mkl)() : null;

    /// <summary>The smallest and largest of the counts that could be read (null when neither could).</summary>
    /// <remarks>Allocates nothing: the trainer reads it at every step.</remarks>
    public static (int Min, int Max)? Range() => (OpenMp, Mkl) switch
    {
        ({ } openMp, { } mkl) => (Math.Min(openMp, mkl), Math.Max(openMp, mkl)),
        ({ } openMp, null) => (openMp, openMp),
        (null, { } mkl) => (mkl, mkl),
        _ => null,
    };

    private static (IntPtr OpenMp, IntPtr Mkl) Resolve()
    {
        const string maps = "/proc/self/maps";
        if (!OperatingSystem.IsLinux() || !File.Exists(maps))
        {
            return (IntPtr.Zero, IntPtr.Zero);
        }
        // Loading torch first makes sure the libraries are mapped (without torch.get_num_threads, which would bind the
        // calling thread); their file names carry build hashes, so they are found by what is mapped rather than by name.
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
        var paths = File.ReadLines(maps).Select(line => line.IndexOf('/') is var at and >= 0 ? line[at..] : null)
            .OfType<string>().Distinct().ToArray();
        return (Export(paths, "libgomp", "omp_get_max_threads"), Export(paths, "libtorch_cpu", "mkl_get_max_threads"));
    }

    private static IntPtr Export(string[] paths, string library, string function)
    {
        foreach (var path in paths.Where(p => Path.GetFileName(p).StartsWith(library, StringComparison.Ordinal)))
        {
            if (System.Runtime.InteropServices.NativeLibrary.TryLoad(path, out var handle)
                && System.Runtime.InteropServices.NativeLibrary.TryGetExport(handle, function, out var address))
            {
                return address;
            }
        }
        return IntPtr.Zero;
    }
}
