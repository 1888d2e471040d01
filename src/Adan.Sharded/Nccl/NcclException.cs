namespace Adan.Sharded.Nccl;

/// <summary>An NCCL call returned an error; the message names the call, the rank and NCCL's own text for the result.</summary>
public sealed class NcclException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NcclException(string operation, int rank, int result, string ncclMessage, string? detail)
        : base($"NCCL {operation} failed on rank {rank}: {ncclMessage} ({NcclResult.Name(result)}, code {result})" +
            (string.IsNullOrWhiteSpace(detail) ? string.Empty : $"; last error: {detail.Trim()}"))
    {
        Operation = operation;
        Rank = rank;
        Result = result;
    }

    /// <summary>The NCCL call that failed, e.g. <c>ncclAllReduce</c>.</summary>
    public string Operation { get; }

    /// <summary>The rank that saw the failure.</summary>
    public int Rank { get; }

    /// <summary>NCCL's <c>ncclResult_t</c>.</summary>
    public int Result { get; }
}
