using Adan.Sharded.Checkpoints;
using Adan.Sharded.Mpi;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;
using Grpc.Core;

namespace Adan.Sharded.Training;

/// <summary>
/// What an exception that ends a command means to the user: a usage error (exit 2), an expected failure (exit 1, the
/// message alone), or a bug (exit 1, with the exception's type and a stack trace for the report). One classification for
/// the <c>adan</c> command runner and the training ranks' abort path.
/// </summary>
internal static class FailureKind
{
    /// <summary>The exit code for <paramref name="exception"/>: <see cref="ExitCodes.Usage"/> or <see cref="ExitCodes.Failure"/>.</summary>
    public static int ExitCode(Exception exception) => IsUsage(exception) ? ExitCodes.Usage : ExitCodes.Failure;

    /// <summary>A bad command line, config or launch: nothing the run did caused it.</summary>
    public static bool IsUsage(Exception exception) => exception is UsageException or ConfigException or MpiLaunchException;

    /// <summary>A failure the program expects and explains in its message (missing data, a damaged checkpoint, an I/O or MPI error).</summary>
    public static bool IsExpected(Exception exception) => exception is CheckpointException or DatasetNotFoundException or MpiException
        or MpiLibraryException or NonFiniteGradientException or ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException
        or RpcException;

    /// <summary>One line for the user: the message, prefixed with the exception's type when it is not an expected failure.</summary>
    /// <remarks>
    /// A coordinator call that failed after its retries (the coordinator gone, or its answer refused) is expected: a
    /// training call can meet a dead coordinator before the heartbeat loop declares it gone.
    /// </remarks>
    public static string Describe(Exception exception) => exception switch
    {
        RpcException rpc => $"a call to the coordinator failed: {rpc.StatusCode}: {rpc.Status.Detail}",
        _ when IsUsage(exception) || IsExpected(exception) => exception.Message,
        _ => $"unexpected {exception.GetType().Name}: {exception.Message}",
    };
}
