using System.Runtime.InteropServices;

namespace Adan.Sharded.Training;

/// <summary>
/// A rank's ear for preemption: SIGUSR1 (Slurm's warning, <c>--signal=USR1@N</c>, and what <c>adan launch</c> passes on)
/// or SIGTERM (Slurm's preemption and time limit, Kubernetes' eviction) asks the run to save and stop; the trainer
/// reads <see cref="IsRequested"/> into its per-step scalar all-reduce, so that every rank stops after the same step.
/// </summary>
/// <remarks>
/// Every SIGUSR1 and SIGTERM is the same request: one stop reaches a rank by several roads (Slurm and
/// <c>adan sweep</c> signal every process of the job, mpiexec passes SIGTERM on, the launcher passes SIGUSR1 on), so a
/// rank cannot tell a second request from the same one twice. Stopping at once is the launcher's (a second SIGTERM or
/// Ctrl-C to it sends SIGINT), or the scheduler's SIGKILL after its grace; SIGINT is left to the runtime and stops a
/// rank at once, as before.
/// </remarks>
internal sealed class PreemptionRequest : IDisposable
{
    private readonly PosixSignalRegistration _user1;
    private readonly PosixSignalRegistration _terminate;
    private readonly TaskCompletionSource _requested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string? _signal;

    /// <summary>Listens from now until disposed.</summary>
    public PreemptionRequest()
    {
        _user1 = PosixSignalRegistration.Create(Processes.Signal.User1, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Whether this rank was asked to save and stop.</summary>
    public bool IsRequested => _signal is not null;

    /// <summary>Completes when this rank is first asked.</summary>
    public Task Requested => _requested.Task;

    /// <summary>The first signal that asked, <c>SIGUSR1</c> or <c>SIGTERM</c>; null when none did.</summary>
    public string? SignalName => _signal;

    public void Dispose()
    {
        _user1.Dispose();
        _terminate.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _signal ??= context.Signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGUSR1";
        _requested.TrySetResult();
    }
}
