using System.Runtime.InteropServices;
using Adan.Worker.Commands;

namespace Adan.Worker.Processes;

/// <summary>
/// SIGINT, SIGTERM and SIGHUP taken over for as long as this lives: instead of ending the process at once, they cancel
/// <see cref="Token"/>, so that a command can end its children and write what it owes before it exits with
/// <see cref="ExitCode"/>.
/// </summary>
/// <remarks>
/// SIGTERM is what Slurm, Kubernetes and <c>adan sweep</c> send to stop a job; SIGINT is Ctrl-C in a terminal; SIGHUP
/// comes when the terminal or the ssh session goes away.
/// </remarks>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private readonly PosixSignalRegistration _hangUp;
    private PosixSignal? _received;

    public StopSignals()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        _hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
    }

    /// <summary>Cancelled by the first SIGINT, SIGTERM or SIGHUP.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>The first signal received, or null.</summary>
    public PosixSignal? Received => _received;

    /// <summary>The shell's convention for a process ended by the signal received: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.</summary>
    public int ExitCode => _received switch
    {
        PosixSignal.SIGINT => ExitCodes.Interrupted,
        PosixSignal.SIGHUP => ExitCodes.HangUp,
        _ => ExitCodes.Terminated,
    };

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _hangUp.Dispose();
        _stop.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _received ??= context.Signal;
        _stop.Cancel();
    }
}
