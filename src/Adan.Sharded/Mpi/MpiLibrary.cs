using System.Reflection;
using System.Runtime.InteropServices;

namespace Adan.Sharded.Mpi;

/// <summary>
/// Loads the MPI library for this process and maps MPI.NET's <c>msmpi.dll</c> (and our own
/// declarations in <see cref="MpiNative"/>) onto it.
/// </summary>
/// <remarks>
/// MPI.NET 1.4 was written for MS-MPI, whose handles and constants equal the MPICH ABI
/// (<c>libmpi.so.12</c>: MPICH, Intel MPI, MVAPICH, Cray MPICH). Open MPI uses pointers for handles
/// and is not ABI compatible, so it is detected and refused instead of crashing later.
/// Search order: <c>ADAN_MPI_LIBRARY</c>, then <c>libmpi.so.12</c>, then <c>libmpich.so.12</c>.
/// </remarks>
public static class MpiLibrary
{
    /// <summary>Environment variable that names the MPI library to load (a path or a soname).</summary>
    public const string LibraryVariable = "ADAN_MPI_LIBRARY";

    private const string MsMpiName = "msmpi";
    private static readonly string[] s_defaultCandidates = ["libmpi.so.12", "libmpich.so.12"];
    private static readonly object s_gate = new();
    private static IntPtr s_handle;
    private static string? s_loadedFrom;

    /// <summary>The library that was loaded, or null before <see cref="Load"/>.</summary>
    public static string? LoadedFrom => s_loadedFrom;

    /// <summary>The native handle of the loaded MPI library.</summary>
    public static IntPtr Handle => s_handle;

    /// <summary>
    /// Finds and loads an MPICH-ABI MPI library once per process and registers the import
    /// resolvers. Throws <see cref="MpiLibraryException"/> with a fix when it cannot.
    /// </summary>
    public static void Load()
    {
        lock (s_gate)
        {
            if (s_handle != IntPtr.Zero)
            {
                return;
            }
            var (handle, name) = Open(Candidates());
            RefuseOpenMpi(handle, name);
            s_handle = handle;
            s_loadedFrom = name;
            NativeLibrary.SetDllImportResolver(typeof(MPI.Unsafe).Assembly, Resolve);
            NativeLibrary.SetDllImportResolver(typeof(MpiLibrary).Assembly, Resolve);
        }
    }

    internal static IReadOnlyList<string> Candidates()
    {
        var configured = System.Environment.GetEnvironmentVariable(LibraryVariable);
        return string.IsNullOrWhiteSpace(configured) ? s_defaultCandidates : [configured];
    }

    internal static (IntPtr Handle, string Name) Open(IReadOnlyList<string> candidates)
    {
        var failures = new List<string>();
        foreach (var candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out var handle))
            {
                return (handle, candidate);
            }
            failures.Add(candidate);
        }
        var configured = System.Environment.GetEnvironmentVariable(LibraryVariable);
        var hint = string.IsNullOrWhiteSpace(configured)
            ? $"Install MPICH (Debian/Ubuntu: apt-get install mpich), or use Intel MPI / MVAPICH / Cray MPICH, " +
              $"or set {LibraryVariable} to the path of an MPICH-ABI libmpi.so.12."
            : $"{LibraryVariable}={configured} could not be loaded; point it at an MPICH-ABI libmpi.so.12 " +
              $"(MPICH, Intel MPI, MVAPICH, Cray MPICH) or unset it.";
        throw new MpiLibraryException(
            $"No MPI library could be loaded (tried {string.Join(", ", failures)}). {hint}");
    }

    internal static void RefuseOpenMpi(IntPtr handle, string name)
    {
        if (NativeLibrary.TryGetExport(handle, "ompi_mpi_comm_world", out _))
        {
            NativeLibrary.Free(handle);
            throw new MpiLibraryException(
                $"{name} is Open MPI, which is not ABI compatible with MPI.NET (it needs the MPICH ABI). " +
                $"Install MPICH (apt-get install mpich) and launch with mpiexec.mpich, or use Intel MPI / MVAPICH / " +
                $"Cray MPICH; set {LibraryVariable} to an MPICH-ABI libmpi.so.12 if it is not found by default.");
        }
        if (!NativeLibrary.TryGetExport(handle, "MPI_Init_thread", out _))
        {
            NativeLibrary.Free(handle);
            throw new MpiLibraryException(
                $"{name} does not export MPI_Init_thread, so it is not an MPI library. Set {LibraryVariable} " +
                "to an MPICH-ABI libmpi.so.12 (MPICH, Intel MPI, MVAPICH, Cray MPICH).");
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        return libraryName.StartsWith(MsMpiName, StringComparison.OrdinalIgnoreCase) ? s_handle : IntPtr.Zero;
    }
}
