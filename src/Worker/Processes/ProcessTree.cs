using Adan.Sharded.Training.Processes;
using System.Diagnostics;
using System.Globalization;

namespace Adan.Worker.Processes;

/// <summary>
/// A process and everything it started, read from <c>/proc</c>: <c>adan launch</c> runs mpiexec, which runs Hydra's
/// proxies and the ranks, and <c>adan sweep</c> runs <c>adan launch</c>. Hydra starts each proxy and each rank in a
/// session of its own, so a process group would not hold them, and a launcher ended by a signal leaves them behind
/// unless each is told; <c>adan launch</c> adopts orphans (<see cref="Signal.AdoptOrphans"/>) so that none escapes the
/// tree when its parent dies first.
/// </summary>
internal static class ProcessTree
{
    /// <summary>The process ids under <paramref name="root"/>, children before grandchildren; empty where there is no <c>/proc</c>.</summary>
    public static IReadOnlyList<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        if (!Directory.Exists("/proc"))
        {
            return [];
        }
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ParentOf(directory) is { } parent)
            {
                parents[pid] = parent;
            }
        }
        var found = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var pid))
        {
            foreach (var (child, parent) in parents)
            {
                if (parent == pid && !found.Contains(child))
                {
                    found.Add(child);
                    frontier.Enqueue(child);
                }
            }
        }
        return found;
    }

    /// <summary>Sends SIGKILL to <paramref name="pid"/> when it is still running.</summary>
    public static void Kill(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    /// <summary>
    /// Ends a job at once: SIGINT to mpiexec, which Hydra passes on to every rank on every host (ranks take SIGUSR1 and
    /// SIGTERM for a preemption request, SIGINT for a stop), up to <paramref name="grace"/> for it to exit, then SIGKILL
    /// to every descendant of this process but <paramref name="spare"/> (the coordinator, which is stopped on its own).
    /// </summary>
    public static async Task EndJobAsync(Process mpiexec, TimeSpan grace, int? spare)
    {
        Signal.Interrupt(mpiexec.Id);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await mpiexec.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }
        KillDescendants(spare);
        await mpiexec.WaitForExitAsync();
    }

    /// <summary>
    /// SIGKILL to every descendant of this process but <paramref name="spare"/>, until none is left (a proxy may start a
    /// rank while the first pass runs); at most a few passes.
    /// </summary>
    public static void KillDescendants(int? spare)
    {
        for (var pass = 0; pass < 5; pass++)
        {
            var left = Descendants(Environment.ProcessId).Where(pid => pid != spare && !IsZombie(pid)).ToList();
            if (left.Count == 0)
            {
                return;
            }
            foreach (var pid in left)
            {
                Kill(pid);
            }
            Thread.Sleep(20);
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

    /// <summary>The parent pid from <c>/proc/PID/stat</c>, whose second field (the name) may hold spaces and parentheses.</summary>
    private static int? ParentOf(string directory)
    {
        string stat;
        try
        {
            stat = File.ReadAllText(Path.Combine(directory, "stat"));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        var fields = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent) ? parent : null;
    }
}
