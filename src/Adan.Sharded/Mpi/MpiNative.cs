using System.Runtime.InteropServices;

namespace Adan.Sharded.Mpi;

/// <summary>
/// MPI entry points and constants that MPI.NET 1.4 lacks, declared against the MPICH ABI.
/// Resolved through <see cref="MpiLibrary"/> like MPI.NET's own <c>msmpi.dll</c> imports.
/// </summary>
internal static unsafe class MpiNative
{
    private const string Library = "msmpi.dll";

    /// <summary><c>MPI_IN_PLACE</c> in the MPICH ABI: <c>(void*)-1</c>.</summary>
    public static readonly IntPtr InPlace = new(-1);

    public const int Success = 0;
    public const int RequestNull = 0x2c000000;
    public const int CommWorld = 0x44000000;
    public const int Float = 0x4c00040a;
    public const int Double = 0x4c00080b;
    public const int Byte = 0x4c00010d;
    public const int Int = 0x4c000405;
    public const int Long = 0x4c000807;
    public const int UnsignedShort = 0x4c000204;
    public const int OpSum = 0x58000003;
    public const int OpMax = 0x58000001;
    public const int OpMin = 0x58000002;
    public const int ThreadSerialized = 2;
    public const int MaxErrorString = 1024;

    /// <summary>MPICH's <c>MPI_Status</c>: five ints.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Status
    {
        public int CountLo;
        public int CountHiAndCancelled;
        public int Source;
        public int Tag;
        public int Error;
    }

    [DllImport(Library)]
    public static extern int MPI_Reduce_scatter_block(IntPtr sendbuf, IntPtr recvbuf, int recvcount, int datatype, int op, int comm);

    [DllImport(Library)]
    public static extern int MPI_Reduce(IntPtr sendbuf, IntPtr recvbuf, int count, int datatype, int op, int root, int comm);

    [DllImport(Library)]
    public static extern int MPI_Ireduce(IntPtr sendbuf, IntPtr recvbuf, int count, int datatype, int op, int root, int comm, out int request);

    [DllImport(Library)]
    public static extern int MPI_Iallreduce(IntPtr sendbuf, IntPtr recvbuf, int count, int datatype, int op, int comm, out int request);

    /// <summary>
    /// Nonblocking reduce-scatter with a count per rank. MPI.NET has no binding for it. The counts array is read until the
    /// request completes, so it must not move: pass pinned memory.
    /// </summary>
    [DllImport(Library)]
    public static extern int MPI_Ireduce_scatter(IntPtr sendbuf, IntPtr recvbuf, int* recvcounts, int datatype, int op, int comm, out int request);

    [DllImport(Library)]
    public static extern int MPI_Wait(ref int request, out Status status);

    /// <summary>A user reduction: <c>function(invec, inoutvec, len, datatype)</c> combines invec into inoutvec.</summary>
    [DllImport(Library)]
    public static extern int MPI_Op_create(delegate* unmanaged<IntPtr, IntPtr, int*, int*, void> function, int commute, out int op);

    [DllImport(Library)]
    public static extern int MPI_Ibarrier(int comm, out int request);

    [DllImport(Library)]
    public static extern int MPI_Test(ref int request, out int flag, out Status status);

    [DllImport(Library)]
    public static extern int MPI_Error_string(int errorcode, byte* message, out int length);

    [DllImport(Library)]
    public static extern int MPI_Comm_set_errhandler(int comm, int errhandler);

    [DllImport(Library)]
    public static extern int MPI_Comm_split_type(int comm, int splitType, int key, int info, out int newcomm);

    [DllImport(Library)]
    public static extern int MPI_Comm_free(ref int comm);

    /// <summary><c>MPI_COMM_TYPE_SHARED</c> in MPICH: ranks that share memory, i.e. one host.</summary>
    public const int CommTypeShared = 1;

    /// <summary><c>MPI_INFO_NULL</c> in the MPICH ABI.</summary>
    public const int InfoNull = 0x1c000000;

    /// <summary><c>MPI_ERRORS_RETURN</c>: errors come back as codes instead of aborting the job.</summary>
    public const int ErrorsReturn = 0x54000001;
}
