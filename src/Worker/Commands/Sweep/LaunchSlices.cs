using System.Globalization;
using Adan.Worker.Launch;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Splits the sweep's machines into the disjoint <see cref="LaunchSlice"/>s of <c>--parallel P</c>: the hostfile's hosts
/// into P groups of at least W slots each, or this machine's cores into P slices, each launch's ranks given
/// ⌊cores ÷ (P × W)⌋ threads (at least 1) and, where <c>taskset</c> exists, pinned to their slice's CPUs.
/// </summary>
/// <remarks>
/// A host is never split between slices: two launches on one host would compete for its cores, while each trainer
/// divides the host's cores by its own ranks alone. More launches than cores (P &gt; cores) is refused, as there is no
/// core left to give a launch of its own; more ranks than cores (P × W &gt; cores) is allowed, each rank on one thread,
/// and <see cref="Oversubscription"/> says so.
/// </remarks>
internal static class LaunchSlices
{
    /// <summary>The name of a slice's hostfile, <c>slice-K</c>, inside the sweep's <c>hostfiles/</c> directory.</summary>
    public const string HostfilePrefix = "slice-";

    /// <summary>The directory of the slices' hostfiles inside <c>--out</c>.</summary>
    public const string HostfilesDirectory = "hostfiles";

    /// <summary>
    /// The hosts of <paramref name="hostfile"/> in file order, cut into <paramref name="parallel"/> groups, each closed as
    /// soon as it holds <paramref name="ranks"/> slots; the hosts after the last group stay idle.
    /// </summary>
    /// <param name="hostfile">The sweep's hostfile.</param>
    /// <param name="parallel">Launches at once (≥ 1).</param>
    /// <param name="ranks">Ranks per launch.</param>
    /// <param name="source">The hostfile's path, as the error names it.</param>
    /// <exception cref="UsageException">The hosts make fewer than <paramref name="parallel"/> such groups.</exception>
    public static IReadOnlyList<Hostfile> SplitHosts(Hostfile hostfile, int parallel, int ranks, string source)
    {
        var groups = new List<Hostfile>();
        var group = new List<HostSlots>();
        foreach (var host in hostfile.Hosts)
        {
            if (groups.Count == parallel)
            {
                break;
            }
            group.Add(host);
            if (group.Sum(h => h.Slots) >= ranks)
            {
                groups.Add(new Hostfile(group));
                group = [];
            }
        }
        if (groups.Count < parallel)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--parallel {parallel}: the {hostfile.Hosts.Count} host(s) of {source} ({hostfile.Slots} slots) hold {groups.Count} disjoint launch(es) of -n {ranks}; use --parallel {Math.Max(groups.Count, 1)}, or add hosts to the hostfile"));
        }
        return groups;
    }

    /// <summary>Writes each group of <see cref="SplitHosts"/> to <c>directory/slice-K</c> and returns its slice.</summary>
    public static IReadOnlyList<LaunchSlice> OfHosts(IReadOnlyList<Hostfile> groups, string directory)
    {
        Directory.CreateDirectory(directory);
        return [.. groups.Select((group, k) =>
        {
            var path = Path.Combine(directory, HostfilePrefix + (k + 1).ToString(CultureInfo.InvariantCulture));
            group.Write(path);
            return new LaunchSlice(k + 1, groups.Count, path, null, null);
        })];
    }

    /// <summary>
    /// This machine's <paramref name="cores"/> as <paramref name="parallel"/> slices: each run given
    /// ⌊cores ÷ (P × W)⌋ threads (at least 1), and pinned to a contiguous share of <paramref name="cpus"/> when
    /// <paramref name="pin"/> (there is <c>taskset</c> and the CPU list is known).
    /// </summary>
    /// <param name="parallel">Launches at once (≥ 1).</param>
    /// <param name="ranks">Ranks per launch.</param>
    /// <param name="cores">The cores this process may use (<see cref="Environment.ProcessorCount"/>).</param>
    /// <param name="cpus">The CPUs this process may run on (<see cref="CpuPinning.AllowedCpus"/>); null when unknown.</param>
    /// <param name="pin">Whether launches can be pinned (<c>taskset</c> exists).</param>
    /// <exception cref="UsageException">More launches than cores.</exception>
    public static IReadOnlyList<LaunchSlice> OfCores(int parallel, int ranks, int cores, IReadOnlyList<int>? cpus, bool pin)
    {
        if (parallel > cores)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--parallel {parallel}: this machine has {cores} core(s), too few for {parallel} launches on cores of their own; use --parallel {cores} or less, or --hostfile"));
        }
        var threads = Math.Max(1, cores / (parallel * ranks));
        // Fewer listed CPUs than launches (a CPU quota on a smaller mask) leaves no disjoint share to pin each to.
        var pinned = pin && cpus is not null && cpus.Count >= parallel ? cpus : null;
        return [.. Enumerable.Range(0, parallel).Select(k => new LaunchSlice(k + 1, parallel, null, threads,
            pinned is null ? null : [.. pinned.Skip(k * pinned.Count / parallel).Take((k + 1) * pinned.Count / parallel - k * pinned.Count / parallel)]))];
    }

    /// <summary>
    /// The line that says <paramref name="parallel"/> launches of <paramref name="ranks"/> ranks oversubscribe
    /// <paramref name="cores"/> cores, or null when they fit.
    /// </summary>
    public static string? Oversubscription(int parallel, int ranks, int cores) =>
        (long)parallel * ranks > cores
            ? string.Create(CultureInfo.InvariantCulture,
                $"--parallel {parallel} × -n {ranks} = {parallel * ranks} ranks on {cores} core(s): oversubscribed, each rank computes on 1 thread and the runs are slower than on cores of their own")
            : null;
}
