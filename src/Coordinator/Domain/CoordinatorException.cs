namespace Adan.Coordinator.Domain;

/// <summary>A refused job or checkpoint operation; the message names the offending value and, where there is one, the fix.</summary>
internal sealed class CoordinatorException(CoordinatorErrorKind kind, string message) : Exception(message)
{
    /// <summary>What kind of refusal this is.</summary>
    public CoordinatorErrorKind Kind { get; } = kind;

    /// <summary>A malformed or out-of-range value.</summary>
    public static CoordinatorException InvalidArgument(string message) => new(CoordinatorErrorKind.InvalidArgument, message);

    /// <summary>An unknown job, rank or checkpoint.</summary>
    public static CoordinatorException NotFound(string message) => new(CoordinatorErrorKind.NotFound, message);

    /// <summary>A state that forbids the operation.</summary>
    public static CoordinatorException FailedPrecondition(string message) => new(CoordinatorErrorKind.FailedPrecondition, message);

    /// <summary>A conflicting record that already exists.</summary>
    public static CoordinatorException AlreadyExists(string message) => new(CoordinatorErrorKind.AlreadyExists, message);

    /// <summary>An operation the caller's token or the coordinator's confinement does not permit.</summary>
    public static CoordinatorException PermissionDenied(string message) => new(CoordinatorErrorKind.PermissionDenied, message);

    /// <summary>A limit reached.</summary>
    public static CoordinatorException ResourceExhausted(string message) => new(CoordinatorErrorKind.ResourceExhausted, message);

    /// <summary>A failure of the coordinator itself.</summary>
    public static CoordinatorException Internal(string message) => new(CoordinatorErrorKind.Internal, message);
}
