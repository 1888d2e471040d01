using Grpc.Core;

namespace Adan.Coordinator.State;

/// <summary>Builds the <see cref="RpcException"/>s the services answer with; messages name the offending value.</summary>
internal static class Errors
{
    public static RpcException InvalidArgument(string message) => new(new Status(StatusCode.InvalidArgument, message));

    public static RpcException FailedPrecondition(string message) => new(new Status(StatusCode.FailedPrecondition, message));

    public static RpcException AlreadyExists(string message) => new(new Status(StatusCode.AlreadyExists, message));

    public static RpcException NotFound(string message) => new(new Status(StatusCode.NotFound, message));

    public static RpcException Internal(string message) => new(new Status(StatusCode.Internal, message));
}
