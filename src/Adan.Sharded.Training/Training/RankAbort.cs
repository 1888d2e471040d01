using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Adan.Coordinator.Client;

namespace Adan.Sharded.Training;

/// <summary>
/// The one way a rank of a job ends on an error: its own exception (on the training thread or any other), the
/// coordinator declaring the job failed, or the coordinator gone. It tells the coordinator first, so that the job fails
/// at once with this rank, its host and the error as the reason and every other rank hears it on its Watch stream, then
/// ends the process at once with a non-zero code, without MPI_Finalize and without any other MPI call.
/// </summary>
/// <remarks>
/// <para>
/// Why no MPI call: MPI_Finalize waits for the other ranks, which wait in a collective for this one, so a rank that
/// finalises on an error hangs the job; and MPI is initialised MPI_THREAD_SERIALIZED, so MPI_Abort from the watch
/// thread while the training thread is inside a collective breaks the threading contract. A process that ends without
/// finalising is what MPICH's Hydra treats as a bad termination: it kills every other rank of the job (on every host)
/// and mpiexec exits non-zero, measured at about a second (docs/architecture.md). The coordinator's failure event is a
/// second path to every rank that does not depend on the launcher.
/// </para>
/// <para>
/// Use it as an exception filter, <c>catch (Exception e) when (abort.Fail(e))</c>: a filter runs before the stack
/// unwinds, so no <c>Dispose</c> on the way (leaving the job, waiting for a background checkpoint write) can block or
/// report a clean end first.
/// </para>
/// </remarks>
internal sealed partial class RankAbort
{
    private const string Command = "adan train";

    /// <summary>How long the report to the coordinator may take: it may be the thing that is gone.</summary>
    private static readonly TimeSpan s_reportTimeout = TimeSpan.FromSeconds(3);

    private readonly int _rank;
    private readonly int _worldSize;
    private readonly TextWriter _error;
    private int _ending;

    /// <param name="rank">This rank.</param>
    /// <param name="worldSize">The job's ranks.</param>
    /// <param name="inJob">Whether this process is part of a job (started by MPI or linked to a coordinator); a lone process lets errors take their ordinary course.</param>
    /// <param name="error">Where the error line goes (stderr).</param>
    public RankAbort(int rank, int worldSize, bool inJob, TextWriter error)
    {
        _rank = rank;
        _worldSize = worldSize;
        _error = error;
        InJob = inJob;
        if (inJob)
        {
            AppDomain.CurrentDomain.UnhandledException += (_, e) => Fail((Exception)e.ExceptionObject);
        }
    }

    /// <summary>Whether errors end the job through here.</summary>
    public bool InJob { get; }

    /// <summary>
    /// For an exception filter: in a job, reports <paramref name="exception"/> and ends the process (never returns);
    /// outside one, returns false so that the exception goes on to the <c>adan</c> command runner.
    /// </summary>
    public bool Fail(Exception exception)
    {
        if (!InJob)
        {
            return false;
        }
        var usage = FailureKind.IsUsage(exception);
        var message = FailureKind.Describe(exception);
        // Every rank parses the same config and meets the same usage error: one line for the job, no failure to report.
        if (!usage || _rank == 0)
        {
            _error.WriteLine(usage ? $"{Command}: {message}" : $"{Command}: rank {_rank} on {Environment.MachineName}: {message}");
        }
        if (!usage && !FailureKind.IsExpected(exception))
        {
            _error.WriteLine(exception.StackTrace);
        }
        return End(FailureKind.ExitCode(exception), usage ? null : message);
    }

    /// <summary>Ends this rank because of something outside it (the coordinator failed the job or is gone); not reported back.</summary>
    [DoesNotReturn]
    public void Terminate(string message)
    {
        _error.WriteLine($"{Command}: rank {_rank}: {message}; ending this rank");
        End(ExitCodes.Failure, report: null);
    }

    /// <summary>Reports, flushes and exits; declared to return a value only so that filters can <c>return</c> it.</summary>
    [DoesNotReturn]
    private bool End(int exitCode, string? report)
    {
        // The first caller ends the process; a second (another thread failing meanwhile) only waits for that.
        if (Interlocked.Exchange(ref _ending, 1) != 0)
        {
            Thread.Sleep(Timeout.Infinite);
        }
        if (report is not null)
        {
            Report(report);
        }
        Console.Out.Flush();
        _error.Flush();
        Exit(exitCode);
        throw new UnreachableException();
    }

    /// <summary>Tells the coordinator, if there is one, within <see cref="s_reportTimeout"/>; nothing here may throw.</summary>
    private void Report(string message)
    {
        try
        {
            if (JobEnvironment.ClientOptions(_rank, _worldSize) is not { } options)
            {
                return;
            }
            var client = new CoordinatorClient(options with { MaxAttempts = 1 });
            var report = client.ReportFailureAsync(message, s_reportTimeout);
            if (!report.Wait(s_reportTimeout + TimeSpan.FromSeconds(1)) || report.Result is null)
            {
                // Refused or unanswered: the job still ends (Hydra, the heartbeat timeout), only without this rank named first.
                _error.WriteLine($"{Command}: rank {_rank}: the coordinator did not take the failure report");
            }
        }
        catch (ArgumentException)
        {
            // The environment names no coordinator this rank may use (a remote http:// one, say): there is nobody to
            // tell, and the failure's own line already said why.
        }
        catch (Exception e)
        {
            _error.WriteLine($"{Command}: rank {_rank}: could not report the failure to the coordinator: {e.Message}");
        }
    }

    /// <summary>libc's <c>_exit</c>: no atexit handlers, no runtime shutdown, no MPI_Finalize; the kernel closes what is open.</summary>
    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void Exit(int status);
}
