using Grpc.Core;

namespace Adan.Coordinator.Auth;

/// <summary>Which kind of secret a call presented.</summary>
internal enum CallerKind
{
    /// <summary>The coordinator's operator token: may do anything.</summary>
    Operator,

    /// <summary>A submitter credential from the credentials file: creates jobs, acts on the jobs it created.</summary>
    Submitter,

    /// <summary>A job's own token: acts on that job only.</summary>
    Job,
}

/// <summary>
/// Who made a call, as the auth interceptor established it before any handler ran: the operator, a submitter credential
/// (by its name) or a job's token (by its job). Handlers read it from the call's user state.
/// </summary>
internal sealed record Caller(CallerKind Kind, string Name)
{
    /// <summary>
    /// The owner name of what the operator token creates (jobs, and the checkpoint roots they begin in); reserved, so no
    /// submitter credential can carry it.
    /// </summary>
    public const string OperatorName = "operator";

    /// <summary>The operator.</summary>
    public static readonly Caller Operator = new(CallerKind.Operator, OperatorName);

    /// <summary>The credential a job created by this caller belongs to; null for a job token, which creates nothing.</summary>
    public string? Credential => Kind switch
    {
        CallerKind.Operator => OperatorName,
        CallerKind.Submitter => Name,
        _ => null,
    };

    /// <summary>Records the caller on the call, for the handlers.</summary>
    public void AttachTo(ServerCallContext context) => context.UserState[typeof(Caller)] = this;

    /// <summary>The caller the interceptor recorded on <paramref name="context"/>.</summary>
    /// <exception cref="InvalidOperationException">No caller was recorded: the call bypassed authentication.</exception>
    public static Caller Of(ServerCallContext context) =>
        context.UserState.TryGetValue(typeof(Caller), out var caller) && caller is Caller known
            ? known
            : throw new InvalidOperationException($"{context.Method} reached its handler without an authenticated caller");
}
