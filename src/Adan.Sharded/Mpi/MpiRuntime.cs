namespace Adan.Sharded.Mpi;

/// <summary>
/// Process-wide MPI lifetime: loads the library, initialises MPI once, and finalises it on dispose.
/// Errors on <c>MPI_COMM_WORLD</c> are returned as codes and surface as <see cref="MpiException"/>.
/// </summary>
public sealed unsafe class MpiRuntime : IDisposable
{
    private static MpiRuntime? s_current;
    private bool _disposed;

    private MpiRuntime(int rank, int size, int localRank, int localSize)
    {
        Rank = rank;
        Size = size;
        LocalRank = localRank;
        LocalSize = localSize;
    }

    /// <summary>This process's rank in <c>MPI_COMM_WORLD</c>.</summary>
    public int Rank { get; }

    /// <summary>The number of ranks in <c>MPI_COMM_WORLD</c>.</summary>
    public int Size { get; }

    /// <summary>This rank's index among the ranks on its host (<c>MPI_Comm_split_type</c> with <c>MPI_COMM_TYPE_SHARED</c>): which GPU it takes.</summary>
    public int LocalRank { get; }

    /// <summary>The number of ranks on this rank's host.</summary>
    public int LocalSize { get; }

    /// <summary>
    /// Initialises MPI for this process (once) and returns the runtime.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    /// <exception cref="MpiLaunchException">
    /// Open MPI's <c>mpirun</c> started the process, or the world MPI formed is not the one the launcher started (see
    /// <see cref="LaunchEnvironment"/>).
    /// </exception>
    public static MpiRuntime Initialize()
    {
        if (s_current is not null)
        {
            return s_current;
        }
        var launch = LaunchEnvironment.FromProcess();
        if (launch.Refusal() is { } refusal)
        {
            throw new MpiLaunchException(refusal);
        }
        MpiLibrary.Load();
        int argc = 0;
        byte** argv = null;
        Check(MPI.Unsafe.MPI_Init_thread(ref argc, ref argv, MpiNative.ThreadSerialized, out _), "MPI_Init_thread", -1);
        Check(MpiNative.MPI_Comm_set_errhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn), "MPI_Comm_set_errhandler", -1);
        Check(MPI.Unsafe.MPI_Comm_rank(MpiNative.CommWorld, out var rank), "MPI_Comm_rank", -1);
        Check(MPI.Unsafe.MPI_Comm_size(MpiNative.CommWorld, out var size), "MPI_Comm_size", rank);
        if (launch.Mismatch(size) is { } mismatch)
        {
            // Every task finds the same: each stops here, before any collective, instead of training alone.
            MPI.Unsafe.MPI_Finalize();
            throw new MpiLaunchException(mismatch);
        }
        Check(MpiNative.MPI_Comm_split_type(MpiNative.CommWorld, MpiNative.CommTypeShared, rank, MpiNative.InfoNull, out var host),
            "MPI_Comm_split_type", rank);
        Check(MPI.Unsafe.MPI_Comm_rank(host, out var localRank), "MPI_Comm_rank", rank);
        Check(MPI.Unsafe.MPI_Comm_size(host, out var localSize), "MPI_Comm_size", rank);
        Check(MpiNative.MPI_Comm_free(ref host), "MPI_Comm_free", rank);
        s_current = new MpiRuntime(rank, size, localRank, localSize);
        return s_current;
    }

    /// <summary>Throws <see cref="MpiException"/> when <paramref name="code"/> is not MPI_SUCCESS.</summary>
    public static void Check(int code, string operation, int rank)
    {
        if (code != MpiNative.Success)
        {
            throw new MpiException(operation, rank, code, ErrorString(code));
        }
    }

    /// <summary>MPI's text for an error code.</summary>
    public static string ErrorString(int code)
    {
        var buffer = stackalloc byte[MpiNative.MaxErrorString];
        return MpiNative.MPI_Error_string(code, buffer, out var length) == MpiNative.Success
            ? System.Text.Encoding.ASCII.GetString(buffer, length)
            : "unknown MPI error";
    }

    /// <summary>Ends the whole job with an exit code (MPI_Abort on MPI_COMM_WORLD).</summary>
    public void Abort(int exitCode) => MPI.Unsafe.MPI_Abort(MpiNative.CommWorld, exitCode);

    /// <summary>Finalises MPI.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        MPI.Unsafe.MPI_Finalize();
        s_current = null;
    }
}
