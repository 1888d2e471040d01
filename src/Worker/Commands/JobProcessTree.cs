using System.Diagnostics;
using System.Runtime.InteropServices;
using Adan.Worker.Commands.Sweep;

namespace Adan.Worker.Commands;

/// <summary>
/// Everything <c>adan launch</c> started for a job: mpiexec, its Hydra proxies and the ranks (on this host), found through
/// <c>/proc</c> as descendants of the launcher, which adopts orphans (<see cref="Signal.AdoptOrphans"/>) so that none
/// escapes the tree when its parent dies first. Hydra starts each proxy and each rank in a session of its own, so a
/// process group would not hold them.
/// </summary>
internal static class JobProcessTree
{
    /// <summary>
    /// Ends the job: <paramref name="signal"/> to mpiexec (SIGINT as SIGINT; SIGTERM and SIGHUP as SIGTERM, which Hydra
    /// passes on to every rank on every host), up to <paramref name="grace"/> for it to exit, then SIGKILL to every
    /// descendant of this process but <paramref name="spare"/> (the coordinator, which is stopped on its own).
    /// </summary>
    public static async Task EndAsync(Process mpiexec, PosixSignal signal, TimeSpan grace, int? spare)
    {
        _ = signal == PosixSignal.SIGINT ? Signal.Interrupt(mpiexec.Id) : Signal.Terminate(mpiexec.Id);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await mpiexec.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }
        KillAll(spare);
        await mpiexec.WaitForExitAsync();
    }

    /// <summary>
    /// SIGKILL to every descendant of this process but <paramref name="spare"/>, until none is left (a proxy may start a
    /// rank while the first pass runs); at most a few passes.
    /// </summary>
    public static void KillAll(int? spare)
    {
        for (var pass = 0; pass < 5; pass++)
        {
            var left = ProcessTree.Descendants(Environment.ProcessId).Where(pid => pid != spare && !IsZombie(pid)).ToList();
            if (left.Count == 0)
            {
                return;
            }
            foreach (var pid in left)
            {
                ProcessTree.Kill(pid);
            }
            Thread.Sleep(20);
        }
    }

    /// <summary>An exited child not yet reaped: it holds no resources and cannot be killed again.</summary>
    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Whether a process of this host with that pid runs.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
