using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Adan.Coordinator.Auth;

/// <summary>
/// Rejects every call without the job token before any handler runs, so an unauthenticated call changes nothing.
/// </summary>
/// <remarks>
/// An interceptor rather than ASP.NET authentication middleware: it covers every call kind, streaming included,
/// and answers with a gRPC status instead of an HTTP 401. The health service is exempt so that probes
/// (Kubernetes, load balancers) need no secret; it reveals nothing but "serving".
/// </remarks>
internal sealed class TokenAuthInterceptor(JobToken token) : Interceptor
{
    private const string HealthServicePrefix = "/grpc.health.v1.Health/";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authenticate(ServerCallContext context)
    {
        if (context.Method.StartsWith(HealthServicePrefix, StringComparison.Ordinal))
        {
            return;
        }
        var authorization = context.RequestHeaders.GetValue("authorization");
        if (authorization is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "missing job token (send 'authorization: Bearer <token>')"));
        }
        if (!token.Matches(authorization))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "wrong job token"));
        }
    }
}
