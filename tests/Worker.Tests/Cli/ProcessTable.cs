using System.Diagnostics;
using Adan.Worker.Processes;

namespace Adan.Worker.Tests.Cli;

/// <summary>Processes as <c>/proc</c> shows them: who descends from whom, what runs, with which arguments.</summary>
internal static class ProcessTable
{
    /// <summary>Every process below <paramref name="ancestor"/>, by pid.</summary>
    public static List<int> Descendants(int ancestor) => Where(pid => IsDescendant(pid, ancestor));

    /// <summary>Whether the process exists and is not a zombie.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return !stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static string[] Arguments(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException)
        {
            return [];
        }
    }

    /// <summary>The <c>adan train</c> processes (ranks) below <paramref name="ancestor"/>, in pid order.</summary>
    public static List<int> Ranks(int ancestor) =>
        [.. Descendants(ancestor).Where(pid => Arguments(pid) is [var program, "train", ..] && program.EndsWith("/adan", StringComparison.Ordinal)).Order()];

    /// <summary>
    /// The processes whose environment has <paramref name="name"/>=<paramref name="value"/>: a job's ranks carry its id,
    /// wherever they were re-parented to.
    /// </summary>
    public static List<int> WithEnvironment(string name, string value)
    {
        var entry = $"{name}={value}";
        return Where(pid => IsRunning(pid) && File.ReadAllText($"/proc/{pid}/environ").Split('\0').Contains(entry, StringComparer.Ordinal));
    }

    /// <summary>The running processes one of whose arguments is <paramref name="argument"/>.</summary>
    public static List<int> WithArgument(string argument) => Where(pid => IsRunning(pid) && Arguments(pid).Contains(argument, StringComparer.Ordinal));

    /// <summary>The processes for which <paramref name="test"/> holds; one that ends, or may not be read, while it is looked at is left out.</summary>
    private static List<int> Where(Func<int, bool> test)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(dir), out var pid) && test(pid))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone while we looked, or not ours to read.
            }
        }
        return found;
    }

    /// <summary>Sends SIG<paramref name="name"/> to <paramref name="pid"/> with kill(1).</summary>
    public static void Signal(int pid, string name)
    {
        using var kill = Process.Start("kill", [$"-{name}", pid.ToString()]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Whether <paramref name="pid"/> descends from <paramref name="ancestor"/> (throws IOException when a process in the chain is gone).</summary>
    public static bool IsDescendant(int pid, int ancestor)
    {
        for (var current = pid; current > 1;)
        {
            var stat = File.ReadAllText($"/proc/{current}/stat");
            var parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
            if (parent == ancestor)
            {
                return true;
            }
            current = parent;
        }
        return false;
    }
}
