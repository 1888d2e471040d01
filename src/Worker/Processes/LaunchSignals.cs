using Adan.Sharded.Training.Processes;
using System.Runtime.InteropServices;
using Adan.Worker.Commands;

namespace Adan.Worker.Processes;

/// <summary>
/// The signals <c>adan launch</c> takes over while a job runs: SIGUSR1 (Slurm's warning, <c>--signal=B:USR1@N</c>) or a
/// first SIGTERM (Slurm's preemption, Kubernetes' eviction) asks for a preemption save (<see cref="Preempt"/>); SIGINT
/// (Ctrl-C), SIGHUP (the session went away) or a second SIGTERM asks to stop at once (<see cref="Stop"/>).
/// </summary>
/// <remarks>
/// A repeated SIGUSR1, or a SIGTERM after a SIGUSR1, changes nothing: a batch script passes Slurm's warning on while
/// Slurm may signal every process of the job, so one request may arrive by two roads. The ranks take every SIGUSR1 and
/// SIGTERM for the same request (<c>PreemptionRequest</c>), so stopping at once is decided here and passed on as SIGINT.
/// </remarks>
internal sealed class LaunchSignals : IDisposable
{
    /// <summary>No signal yet in <see cref="_first"/>: PosixSignal's values are negative for the named signals, raw numbers otherwise.</summary>
    private const int NoSignal = int.MinValue;

    private readonly TaskCompletionSource<PosixSignal> _preempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<PosixSignal> _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PosixSignalRegistration[] _registrations;
    private readonly CancellationTokenSource _any = new();
    private int _terminations;
    private int _first = NoSignal;

    public LaunchSignals()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(Signal.User1, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal),
        ];
    }

    /// <summary>Completes with the first SIGUSR1 or SIGTERM.</summary>
    public Task<PosixSignal> Preempt => _preempt.Task;

    /// <summary>Completes with the first SIGINT or SIGHUP, or the second SIGTERM.</summary>
    public Task<PosixSignal> Stop => _stop.Task;

    /// <summary>Cancelled by the first signal of any kind: what starts the job (the coordinator) gives up on it.</summary>
    public CancellationToken Token => _any.Token;

    /// <summary>The first signal received, or null.</summary>
    public PosixSignal? Received => Volatile.Read(ref _first) is var first and not NoSignal ? (PosixSignal)first : null;

    /// <summary>The name a person knows a signal by: <c>SIGUSR1</c>, <c>SIGTERM</c>.</summary>
    public static string Name(PosixSignal signal) => signal == Signal.User1 ? "SIGUSR1" : signal.ToString();

    /// <summary>The shell's code for a job stopped at once by <paramref name="signal"/>: 130 for SIGINT, 129 for SIGHUP, else 143.</summary>
    public static int ExitCode(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGINT => ExitCodes.Interrupted,
        PosixSignal.SIGHUP => ExitCodes.HangUp,
        _ => ExitCodes.Terminated,
    };

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
        _any.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        var signal = context.Signal;
        Interlocked.CompareExchange(ref _first, (int)signal, NoSignal);
        if (signal == PosixSignal.SIGTERM && Interlocked.Increment(ref _terminations) > 1 || signal is PosixSignal.SIGINT or PosixSignal.SIGHUP)
        {
            _stop.TrySetResult(signal);
        }
        else
        {
            _preempt.TrySetResult(signal);
        }
        _any.Cancel();
    }
}
