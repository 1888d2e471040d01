using System.Globalization;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The share of the machines that one of a sweep's concurrent launches runs on: its own hosts, or its own cores of
/// this machine. Slices are disjoint, so runs side by side do not compete for cores (see <see cref="LaunchSlices"/>).
/// </summary>
/// <param name="Index">The slice's number, from 1.</param>
/// <param name="Count">How many slices the sweep runs on at once.</param>
/// <param name="Hostfile">The hostfile passed to <c>adan launch</c>: the slice's own, or the sweep's <c>--hostfile</c> when one launch runs at a time; null for this machine alone.</param>
/// <param name="Threads">The <c>threads</c> passed to each run whose config leaves it to the sweep; null leaves it to the trainer (cores ÷ ranks on the host).</param>
/// <param name="Cpus">The CPUs of this machine the launch is pinned to with <c>taskset</c>; null when it is not pinned.</param>
internal sealed record LaunchSlice(int Index, int Count, string? Hostfile, int? Threads, IReadOnlyList<int>? Cpus)
{
    /// <summary>The one slice of a sequential sweep: everything, launched exactly as a single run would be.</summary>
    public static LaunchSlice Whole(string? hostfile) => new(1, 1, hostfile, null, null);

    /// <summary>
    /// Where <paramref name="run"/> goes on this slice, for people (<c>slice 2/4: cpus 8-15, threads 4</c>); null for
    /// <see cref="Whole"/>. The threads shown are the run's: its config's when it sets them, else the slice's.
    /// </summary>
    public string? Describe(PlannedRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (Count == 1)
        {
            return null;
        }
        var parts = new List<string>();
        if (Hostfile is not null)
        {
            parts.Add($"hostfile {Path.GetFileName(Hostfile)}");
        }
        if (Cpus is { } cpus)
        {
            parts.Add($"cpus {CpuPinning.Format(cpus)}");
        }
        if ((run.Threads > 0 ? run.Threads : Threads) is int threads)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"threads {threads}"));
        }
        return string.Create(CultureInfo.InvariantCulture, $"slice {Index}/{Count}{(parts.Count > 0 ? ": " : "")}{string.Join(", ", parts)}");
    }
}
