using System.Globalization;
using Adan.Worker.Processes;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Pinning a launch to some of this machine's CPUs with <c>taskset -c LIST</c>: the CPUs this process may run on, as
/// Linux lists them (<c>0-3,8</c>), and the <c>taskset</c> executable when the system has one.
/// </summary>
/// <remarks>
/// A CPU mask is inherited across fork and exec, so pinning the launcher pins <c>mpiexec</c> and every rank under it;
/// .NET's <see cref="Environment.ProcessorCount"/> and libgomp's default both read the mask, so a rank sees only its slice.
/// </remarks>
internal static class CpuPinning
{
    /// <summary>The <c>taskset</c> executable on <c>PATH</c>, or null when there is none (then launches are not pinned).</summary>
    public static string? Taskset { get; } = ExecutableSearch.FindOnPath("taskset");

    /// <summary>The CPUs this process may run on (<c>Cpus_allowed_list</c> of <c>/proc/self/status</c>), or null off Linux.</summary>
    public static IReadOnlyList<int>? AllowedCpus()
    {
        const string path = "/proc/self/status";
        const string key = "Cpus_allowed_list:";
        if (!File.Exists(path))
        {
            return null;
        }
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        return line is null ? null : Parse(line[key.Length..]);
    }

    /// <summary>The CPUs of a Linux CPU list such as <c>0-3,8</c>, in ascending order.</summary>
    /// <exception cref="FormatException">The text is not such a list.</exception>
    public static IReadOnlyList<int> Parse(string list)
    {
        var cpus = new SortedSet<int>();
        foreach (var part in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var bounds = part.Split('-');
            var first = int.Parse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture);
            var last = bounds.Length == 2 ? int.Parse(bounds[1], NumberStyles.None, CultureInfo.InvariantCulture) : first;
            if (bounds.Length > 2 || last < first)
            {
                throw new FormatException($"'{part}' is not a CPU or a range of CPUs");
            }
            for (var cpu = first; cpu <= last; cpu++)
            {
                cpus.Add(cpu);
            }
        }
        return [.. cpus];
    }

    /// <summary>The list form of <paramref name="cpus"/> (ascending), runs written as ranges: <c>0-3,8</c>.</summary>
    public static string Format(IReadOnlyList<int> cpus)
    {
        var parts = new List<string>();
        for (var i = 0; i < cpus.Count;)
        {
            var j = i;
            while (j + 1 < cpus.Count && cpus[j + 1] == cpus[j] + 1)
            {
                j++;
            }
            parts.Add(j == i ? Number(cpus[i]) : $"{Number(cpus[i])}-{Number(cpus[j])}");
            i = j + 1;
        }
        return string.Join(',', parts);
    }

    private static string Number(int cpu) => cpu.ToString(CultureInfo.InvariantCulture);
}
