using Adan.Coordinator.Domain;
using Adan.Coordinator.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Adan.Coordinator.Auth;

/// <summary>
/// Checks every call's token before any handler runs, so a refused call changes nothing: the operator token may do
/// anything; a submitter credential may create jobs and act on the jobs it created; a job's token only what names that
/// job (<see cref="IJobScopedRequest"/>), and never create a job. The caller is recorded on the call
/// (<see cref="Caller"/>) for the handlers; every refusal is one audit line naming the credential.
/// </summary>
/// <remarks>
/// An interceptor rather than ASP.NET authentication middleware: it covers every call kind, streaming included,
/// and answers with a gRPC status instead of an HTTP 401. The health service is exempt so that probes
/// (Kubernetes, load balancers) need no secret; it reveals nothing but "serving".
/// </remarks>
internal sealed class TokenAuthInterceptor(
    OperatorToken operatorToken, SubmitterCredentials credentials, JobRegistry jobs, JobSubmitters submitters, AuditLog audit, TimeProvider time) : Interceptor
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
    /// Who presents the <c>authorization</c> header <paramref name="authorization"/>: the operator, a valid submitter
    /// credential, or a job by its token. Needs the headers only, so <see cref="HeaderTokenGate"/> calls it before a body
    /// is read; a refusal is one audit line naming the credential when it is known.
    /// </summary>
    /// <param name="authorization">The header's value.</param>
    /// <param name="method">The call's method, for the audit line.</param>
    /// <param name="peer">The caller's address, for the audit line.</param>
    /// <exception cref="RpcException">Unauthenticated: no token, an expired or revoked credential, or a token the coordinator does not know.</exception>
    public Caller Authenticate(string? authorization, string method, string peer)
    {
        if (authorization is null || !authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            throw Refuse(method, peer, AuditLog.Events.CredentialRefused, null, StatusCode.Unauthenticated, "missing token (send 'authorization: Bearer <token>')");
        }
        var presented = authorization[BearerPrefix.Length..].Trim();
        if (operatorToken.Matches(presented))
        {
            return Caller.Operator;
        }
        var (verdict, credential, name) = credentials.Check(presented, time.GetUtcNow());
        switch (verdict)
        {
            case CredentialVerdict.Valid:
                return new Caller(CallerKind.Submitter, name!);
            case CredentialVerdict.Expired:
                throw Refuse(method, peer, AuditLog.Events.CredentialRefused, name, StatusCode.Unauthenticated,
                    $"credential '{name}' expired at {credential!.Expires!.Value.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}; ask the coordinator's operator for a new one");
            case CredentialVerdict.Revoked:
                throw Refuse(method, peer, AuditLog.Events.CredentialRefused, name, StatusCode.Unauthenticated,
                    $"credential '{name}' was revoked (removed from the coordinator's credentials file); ask the coordinator's operator for a new one");
        }
        var owner = jobs.JobOfToken(presented)
            ?? throw Refuse(method, peer, AuditLog.Events.CredentialRefused, null, StatusCode.Unauthenticated,
                "wrong token: not the coordinator's operator token, a submitter credential or a job's token (give the token the coordinator "
                + $"was started with, its --token-file, a credential its operator issued, or {Protocol.CoordinatorEnvironment.TokenVariable})");
        return new Caller(CallerKind.Job, owner);
    }

    private void Authorize(ServerCallContext context, object? request)
    {
        if (IsExempt(context.Method))
        {
            return;
        }
        var caller = Authenticate(context.RequestHeaders.GetValue("authorization"), context.Method, context.Peer);
        switch (caller.Kind)
        {
            case CallerKind.Operator:
                caller.AttachTo(context);
                return;
            case CallerKind.Submitter:
                AuthorizeSubmitter(context, request, caller.Name);
                return;
        }
        var owner = caller.Name;
        if (request is not IJobScopedRequest scoped)
        {
            throw Refuse(context, AuditLog.Events.AccessDenied, submitters.Of(owner), StatusCode.PermissionDenied,
                $"a job token (job '{owner}') may only act on its own job; {context.Method} needs the coordinator's operator token or a submitter credential", owner);
        }
        if (!string.Equals(scoped.JobId, owner, StringComparison.Ordinal))
        {
            throw Refuse(context, AuditLog.Events.AccessDenied, submitters.Of(owner), StatusCode.PermissionDenied,
                $"this token belongs to job '{owner}'; it cannot act on job '{scoped.JobId}' (use that job's own token)", owner);
        }
        caller.AttachTo(context);
    }

    /// <summary>A submitter credential creates jobs and acts on the jobs it created, nothing else.</summary>
    private void AuthorizeSubmitter(ServerCallContext context, object? request, string name)
    {
        switch (request)
        {
            case CreateJobRequest:
                break;
            case IJobScopedRequest scoped when submitters.Created(name, scoped.JobId):
                break;
            case IJobScopedRequest scoped:
                throw Refuse(context, AuditLog.Events.AccessDenied, name, StatusCode.PermissionDenied,
                    $"credential '{name}' may only act on the jobs it created; job '{scoped.JobId}' is not one of them", scoped.JobId);
            default:
                throw Refuse(context, AuditLog.Events.AccessDenied, name, StatusCode.PermissionDenied,
                    $"credential '{name}' may create jobs and act on its own; {context.Method} needs the coordinator's operator token");
        }
        new Caller(CallerKind.Submitter, name).AttachTo(context);
    }

    /// <summary>Records the refusal in the audit log and returns the status to answer with.</summary>
    private RpcException Refuse(ServerCallContext context, string auditEvent, string? credential, StatusCode code, string message, string? job = null) =>
        Refuse(context.Method, context.Peer, auditEvent, credential, code, message, job);

    private RpcException Refuse(string method, string peer, string auditEvent, string? credential, StatusCode code, string message, string? job = null)
    {
        audit.Record(auditEvent, credential, ("job", job), ("method", method), ("peer", peer), ("reason", message));
        return new RpcException(new Status(code, message));
    }
}
