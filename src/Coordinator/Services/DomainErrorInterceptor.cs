using Adan.Coordinator.Domain;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Adan.Coordinator.Services;

/// <summary>
/// The one adapter from domain refusals to gRPC: every <see cref="CoordinatorException"/> a service lets through
/// becomes the status of its <see cref="CoordinatorErrorKind"/>, with the domain's message as the detail.
/// </summary>
/// <remarks>
/// An interceptor rather than a try/catch per service method: every call kind is covered, streaming included, and a
/// new RPC cannot forget the mapping.
/// </remarks>
internal sealed class DomainErrorInterceptor : Interceptor
{
    /// <summary>The status code of a kind of refusal.</summary>
    public static StatusCode ToStatusCode(CoordinatorErrorKind kind) => kind switch
    {
        CoordinatorErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        CoordinatorErrorKind.NotFound => StatusCode.NotFound,
        CoordinatorErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        CoordinatorErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        CoordinatorErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        CoordinatorErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        _ => StatusCode.Internal,
    };

    /// <summary>The exception gRPC answers the call with.</summary>
    public static RpcException ToRpcException(CoordinatorException error) => new(new Status(ToStatusCode(error.Kind), error.Message));

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (CoordinatorException e)
        {
            throw ToRpcException(e);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (CoordinatorException e)
        {
            throw ToRpcException(e);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (CoordinatorException e)
        {
            throw ToRpcException(e);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (CoordinatorException e)
        {
            throw ToRpcException(e);
        }
    }
}
