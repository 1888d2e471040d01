namespace Adan.Worker.Tests.MultiHost;

/// <summary>Processes below a given one, read from /proc (on every host: namespace hosts share the process table).</summary>
internal static class ProcessTree
{
    /// <summary>The <c>adan train</c> processes (the ranks) below <paramref name="ancestor"/>, in pid order.</summary>
    public static List<int> Ranks(int ancestor)
    {
        var ranks = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (argv.Length > 1 && argv[0].EndsWith("/adan", StringComparison.Ordinal) && argv[1] == "train" && IsBelow(pid, ancestor))
                {
                    ranks.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }
        ranks.Sort();
        return ranks;
    }

    private static bool IsBelow(int pid, int ancestor)
    {
        while (pid > 1)
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
            pid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
            if (pid == ancestor)
            {
                return true;
            }
        }
        return false;
    }
}
