namespace Adan.Sharded.Nccl;

/// <summary>The values of NCCL's <c>ncclResult_t</c> (nccl.h, stable since NCCL 2.0; <c>ncclRemoteError</c> and <c>ncclInProgress</c> since 2.12/2.14).</summary>
internal static class NcclResult
{
    public const int Success = 0;
    public const int UnhandledCudaError = 1;
    public const int SystemError = 2;
    public const int InternalError = 3;
    public const int InvalidArgument = 4;
    public const int InvalidUsage = 5;
    public const int RemoteError = 6;
    public const int InProgress = 7;

    /// <summary>The enumerator's name in nccl.h, for messages a user can search for.</summary>
    public static string Name(int result) => result switch
    {
        Success => "ncclSuccess",
        UnhandledCudaError => "ncclUnhandledCudaError",
        SystemError => "ncclSystemError",
        InternalError => "ncclInternalError",
        InvalidArgument => "ncclInvalidArgument",
        InvalidUsage => "ncclInvalidUsage",
        RemoteError => "ncclRemoteError",
        InProgress => "ncclInProgress",
        _ => "unknown ncclResult_t",
    };
}
