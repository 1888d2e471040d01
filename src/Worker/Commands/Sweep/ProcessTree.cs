using System.Diagnostics;
using System.Globalization;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// A process and everything it started, read from <c>/proc</c>: <c>adan launch</c> runs mpiexec, which runs the ranks,
/// and a launcher ended by a signal leaves them behind unless each is told.
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
