namespace Adan.Sharded.Mpi;

/// <summary>An MPI call returned an error; the message names the operation, the rank and MPI's text.</summary>
public sealed class MpiException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MpiException(string operation, int rank, int errorCode, string mpiMessage)
        : base($"MPI {operation} failed on rank {rank}: {mpiMessage} (error code {errorCode})")
    {
        Operation = operation;
        Rank = rank;
        ErrorCode = errorCode;
    }

    /// <summary>The MPI operation that failed, e.g. <c>MPI_Allreduce</c>.</summary>
    public string Operation { get; }

    /// <summary>The rank that saw the failure.</summary>
    public int Rank { get; }

    /// <summary>MPI's error code.</summary>
    public int ErrorCode { get; }
}
