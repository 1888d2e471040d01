using Adan.Coordinator.Domain;
using Adan.Coordinator.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Adan.Coordinator.Auth;

/// <summary>
/// Checks every call's token before any handler runs, so a refused call changes nothing: the operator token may do
/// anything; a job's token only what names that job (<see cref="IJobScopedRequest"/>), and never create a job.
/// </summary>
/// <remarks>
/// An interceptor rather than ASP.NET authentication middleware: it covers every call kind, streaming included,
/// and answers with a gRPC status instead of an HTTP 401. The health service is exempt so that probes
/// (Kubernetes, load balancers) need no secret; it reveals nothing but "serving".
/// </remarks>
internal sealed class TokenAuthInterceptor(OperatorToken operatorToken, JobRegistry jobs) : Interceptor
{
    private const string HealthServicePrefix = "/grpc.health.v1.Health/";
    private const string BearerPrefix = "Bearer ";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context, request);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context, request: null);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context, request);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context, request: null);
        return continuation(requestStream, responseStream, context);
    }

    /// <summary>Whether <paramref name="method"/> (a gRPC path, <c>/package.Service/Method</c>) needs no token.</summary>
    public static bool IsExempt(string method) => method.StartsWith(HealthServicePrefix, StringComparison.Ordinal);

    /// <summary>
    /// Who presents the <c>authorization</c> header <paramref name="authorization"/>: null for the operator, otherwise
    /// the job whose token it is. Needs the headers only, so <see cref="HeaderTokenGate"/> calls it before a body is read.
    /// </summary>
    /// <exception cref="RpcException">Unauthenticated: no token, or one the coordinator does not know.</exception>
    public string? Authenticate(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "missing token (send 'authorization: Bearer <token>')"));
        }
        var presented = authorization[BearerPrefix.Length..].Trim();
        if (operatorToken.Matches(presented))
        {
            return null;
        }
        return jobs.JobOfToken(presented)
            ?? throw new RpcException(new Status(StatusCode.Unauthenticated,
                "wrong token: neither the coordinator's token nor a job's (give the token the coordinator was started with, "
                + $"its --token-file or {Protocol.CoordinatorEnvironment.TokenVariable})"));
    }

    private void Authorize(ServerCallContext context, object? request)
    {
        if (IsExempt(context.Method))
        {
            return;
        }
        if (Authenticate(context.RequestHeaders.GetValue("authorization")) is not { } owner)
        {
            return;
        }
        if (request is not IJobScopedRequest scoped)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"a job token (job '{owner}') may only act on its own job; {context.Method} needs the coordinator's operator token"));
        }
        if (!string.Equals(scoped.JobId, owner, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"this token belongs to job '{owner}'; it cannot act on job '{scoped.JobId}' (use that job's own token)"));
        }
    }
}
