using System.Runtime.InteropServices;

namespace Adan.Sharded.Nccl;

/// <summary>
/// NCCL's C API (<c>libnccl.so.2</c>), loaded on first use with <see cref="NativeLibrary"/> so that a process that never
/// asks for NCCL never needs it, and called through unmanaged function pointers.
/// </summary>
/// <remarks>
/// Search order: <c>ADAN_NCCL_LIBRARY</c> (a path or a soname), else <c>libnccl.so.2</c>. The library must be NCCL
/// 2.10 or newer (<c>ncclAvg</c>). A library that exports <c>adanNcclStandIn</c> is the host-memory stand-in the tests
/// build (tests/NcclStandIn): it implements the same calls over MPI on CPU memory, and only it is given CPU tensors.
/// </remarks>
internal sealed unsafe class NcclLibrary
{
    /// <summary>Environment variable that names the NCCL library to load.</summary>
    public const string LibraryVariable = "ADAN_NCCL_LIBRARY";

    /// <summary>The soname of NCCL 2.</summary>
    public const string DefaultName = "libnccl.so.2";

    /// <summary>The oldest NCCL the backend accepts, as <c>ncclGetVersion</c> reports it: 2.10.0 brought <c>ncclAvg</c>.</summary>
    public const int MinimumVersion = 21000;

    private static readonly object s_gate = new();
    private static NcclLibrary? s_loaded;

    private readonly delegate* unmanaged<int, IntPtr> _getErrorString;
    private readonly delegate* unmanaged<IntPtr, IntPtr> _getLastError;

    private NcclLibrary(IntPtr handle, string name)
    {
        Name = name;
        IsStandIn = NativeLibrary.TryGetExport(handle, "adanNcclStandIn", out _);
        var getVersion = (delegate* unmanaged<int*, int>)Export(handle, name, "ncclGetVersion");
        int version;
        var result = getVersion(&version);
        _getErrorString = (delegate* unmanaged<int, IntPtr>)Export(handle, name, "ncclGetErrorString");
        if (result != NcclResult.Success)
        {
            throw new NcclLibraryException($"{name}: ncclGetVersion failed ({NcclResult.Name(result)}); reinstall NCCL {FormatVersion(MinimumVersion)} or newer, or use collective=mpi.");
        }
        if (version < MinimumVersion)
        {
            throw new NcclLibraryException(
                $"{name} is NCCL {FormatVersion(version)}; the NCCL backend needs {FormatVersion(MinimumVersion)} or newer (ncclAvg). " +
                $"Install a newer NCCL (NVIDIA's libnccl2 package or pip nvidia-nccl-cu12), point {LibraryVariable} at it, or use collective=mpi.");
        }
        Version = version;
        // ncclGetLastError arrived in NCCL 2.13; older libraries simply give no detail.
        _getLastError = NativeLibrary.TryGetExport(handle, "ncclGetLastError", out var lastError)
            ? (delegate* unmanaged<IntPtr, IntPtr>)lastError
            : null;
        GetUniqueId = (delegate* unmanaged<NcclUniqueId*, int>)Export(handle, name, "ncclGetUniqueId");
        CommInitRank = (delegate* unmanaged<IntPtr*, int, NcclUniqueId, int, int>)Export(handle, name, "ncclCommInitRank");
        CommDestroy = (delegate* unmanaged<IntPtr, int>)Export(handle, name, "ncclCommDestroy");
        CommAbort = (delegate* unmanaged<IntPtr, int>)Export(handle, name, "ncclCommAbort");
        AllReduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Export(handle, name, "ncclAllReduce");
        ReduceScatter = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Export(handle, name, "ncclReduceScatter");
        AllGather = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int>)Export(handle, name, "ncclAllGather");
        Broadcast = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Export(handle, name, "ncclBroadcast");
        Reduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, int, IntPtr, IntPtr, int>)Export(handle, name, "ncclReduce");
        GroupStart = (delegate* unmanaged<int>)Export(handle, name, "ncclGroupStart");
        GroupEnd = (delegate* unmanaged<int>)Export(handle, name, "ncclGroupEnd");
    }

    /// <summary>The library as it was loaded (the value of <c>ADAN_NCCL_LIBRARY</c>, or <c>libnccl.so.2</c>).</summary>
    public string Name { get; }

    /// <summary><c>ncclGetVersion</c>: major·10000 + minor·100 + patch.</summary>
    public int Version { get; }

    /// <summary>Whether this is the tests' host-memory stand-in rather than NVIDIA's NCCL.</summary>
    public bool IsStandIn { get; }

    /// <summary><c>ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId)</c>.</summary>
    public delegate* unmanaged<NcclUniqueId*, int> GetUniqueId { get; }

    /// <summary><c>ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank)</c>.</summary>
    public delegate* unmanaged<IntPtr*, int, NcclUniqueId, int, int> CommInitRank { get; }

    /// <summary><c>ncclResult_t ncclCommDestroy(ncclComm_t comm)</c>.</summary>
    public delegate* unmanaged<IntPtr, int> CommDestroy { get; }

    /// <summary><c>ncclResult_t ncclCommAbort(ncclComm_t comm)</c>.</summary>
    public delegate* unmanaged<IntPtr, int> CommAbort { get; }

    /// <summary><c>ncclAllReduce(sendbuff, recvbuff, count, datatype, op, comm, stream)</c>.</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> AllReduce { get; }

    /// <summary><c>ncclReduceScatter(sendbuff, recvbuff, recvcount, datatype, op, comm, stream)</c>.</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> ReduceScatter { get; }

    /// <summary><c>ncclAllGather(sendbuff, recvbuff, sendcount, datatype, comm, stream)</c>.</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int> AllGather { get; }

    /// <summary><c>ncclBroadcast(sendbuff, recvbuff, count, datatype, root, comm, stream)</c>.</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> Broadcast { get; }

    /// <summary><c>ncclReduce(sendbuff, recvbuff, count, datatype, op, root, comm, stream)</c>.</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, int, IntPtr, IntPtr, int> Reduce { get; }

    /// <summary><c>ncclGroupStart()</c>: the calls up to <see cref="GroupEnd"/> are launched as one operation.</summary>
    public delegate* unmanaged<int> GroupStart { get; }

    /// <summary><c>ncclGroupEnd()</c>.</summary>
    public delegate* unmanaged<int> GroupEnd { get; }

    /// <summary>Loads the library once per process; throws <see cref="NcclLibraryException"/> naming the file and the fix when it cannot.</summary>
    public static NcclLibrary Load()
    {
        lock (s_gate)
        {
            return s_loaded ??= Open(LibraryName());
        }
    }

    /// <summary>The library <see cref="Load"/> opens: <c>ADAN_NCCL_LIBRARY</c> when set, else <c>libnccl.so.2</c>.</summary>
    public static string LibraryName()
    {
        var configured = Environment.GetEnvironmentVariable(LibraryVariable);
        return string.IsNullOrWhiteSpace(configured) ? DefaultName : configured;
    }

    /// <summary>Opens and checks one library, without caching it (tests open several).</summary>
    public static NcclLibrary Open(string name)
    {
        if (!NativeLibrary.TryLoad(name, out var handle))
        {
            var hint = name == DefaultName
                ? $"Install NCCL {FormatVersion(MinimumVersion)} or newer (NVIDIA's libnccl2 package, or pip nvidia-nccl-cu12 with its lib directory on " +
                  $"LD_LIBRARY_PATH), set {LibraryVariable} to the library's path, or use collective=mpi."
                : $"{LibraryVariable}={name} could not be loaded; point it at libnccl.so.2 ({FormatVersion(MinimumVersion)} or newer) or unset it.";
            throw new NcclLibraryException($"The NCCL library {name} could not be loaded. {hint}");
        }
        return new NcclLibrary(handle, name);
    }

    /// <summary>Throws <see cref="NcclException"/> with NCCL's text for <paramref name="result"/> unless it is <c>ncclSuccess</c>.</summary>
    public void Check(int result, string operation, int rank, IntPtr comm = default)
    {
        if (result != NcclResult.Success)
        {
            throw new NcclException(operation, rank, result, ErrorString(result), LastError(comm));
        }
    }

    /// <summary><c>ncclGetErrorString</c>.</summary>
    public string ErrorString(int result) => Marshal.PtrToStringUTF8(_getErrorString(result)) ?? "unknown NCCL error";

    /// <summary><c>ncclGetLastError</c> (NCCL ≥ 2.13), or null.</summary>
    public string? LastError(IntPtr comm) => _getLastError is null ? null : Marshal.PtrToStringUTF8(_getLastError(comm));

    /// <summary>A version code as <c>major.minor.patch</c> (NCCL before 2.9 used major·1000 + minor·100 + patch).</summary>
    public static string FormatVersion(int code) => code < 10000
        ? $"{code / 1000}.{code / 100 % 10}.{code % 100}"
        : $"{code / 10000}.{code / 100 % 100}.{code % 100}";

    private static IntPtr Export(IntPtr handle, string library, string symbol) =>
        NativeLibrary.TryGetExport(handle, symbol, out var address)
            ? address
            : throw new NcclLibraryException(
                $"{library} does not export {symbol}, so it is not NCCL {FormatVersion(MinimumVersion)} or newer; install NCCL 2 (libnccl.so.2), point {LibraryVariable} at it, or use collective=mpi.");
}
