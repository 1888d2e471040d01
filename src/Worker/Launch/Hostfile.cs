using System.Globalization;
using Adan.Worker.Commands;

namespace Adan.Worker.Launch;

/// <summary>
/// An MPICH hostfile as <c>adan launch --hostfile</c> reads it: one <c>host[:slots]</c> per line (blank lines and
/// <c>#</c> comments skipped), so that an elastic restart can drop the hosts that failed and run on the slots left.
/// </summary>
/// <param name="Hosts">The hosts in file order.</param>
internal sealed record Hostfile(IReadOnlyList<HostSlots> Hosts)
{
    /// <summary>Every slot of every host.</summary>
    public int Slots => Hosts.Sum(h => h.Slots);

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="UsageException">A line is not <c>host[:slots]</c> with slots ≥ 1, or no host is listed.</exception>
    public static Hostfile Read(string path)
    {
        var hosts = new List<HostSlots>();
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Split('#', 2)[0].Trim();
            if (line.Length == 0)
            {
                continue;
            }
            // Anything after the host[:slots] word (MPICH's "ifhn=..." and the like) travels with the line as written.
            var word = line.Split((char[])[' ', '\t'], 2)[0];
            var parts = word.Split(':');
            var slots = 1;
            if (parts.Length > 2 || parts[0].Length == 0
                || (parts.Length == 2 && (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out slots) || slots < 1)))
            {
                throw new UsageException($"--hostfile {path}: '{raw.Trim()}' is not host[:slots] with slots >= 1");
            }
            hosts.Add(new HostSlots(parts[0], slots, line));
        }
        return hosts.Count > 0 ? new Hostfile(hosts) : throw new UsageException($"--hostfile {path}: no host listed");
    }

    /// <summary>
    /// The hosts without the one a rank reported as <paramref name="host"/> (its machine name): the entry with that name
    /// or, for a fully qualified name on either side, the same first label; case-insensitive, as host names are.
    /// </summary>
    /// <returns>The remaining hosts, and whether an entry matched.</returns>
    public (Hostfile Remaining, bool Dropped) Without(string host)
    {
        var kept = Hosts.Where(h => !Names(h.Host, host)).ToList();
        return (new Hostfile(kept), kept.Count < Hosts.Count);
    }

    /// <summary>Writes the hostfile (one original line per host) to <paramref name="path"/>.</summary>
    public void Write(string path) => File.WriteAllLines(path, Hosts.Select(h => h.Line));

    private static bool Names(string entry, string reported) =>
        string.Equals(entry, reported, StringComparison.OrdinalIgnoreCase)
        || string.Equals(entry.Split('.')[0], reported.Split('.')[0], StringComparison.OrdinalIgnoreCase)
            && !IsAddress(entry) && !IsAddress(reported);

    private static bool IsAddress(string name) => System.Net.IPAddress.TryParse(name, out _);
}

/// <summary>One host of a <see cref="Hostfile"/>.</summary>
/// <param name="Host">Its name or address.</param>
/// <param name="Slots">How many ranks it runs (1 when the line gives none).</param>
/// <param name="Line">The line as written, kept for the rewritten hostfile.</param>
internal sealed record HostSlots(string Host, int Slots, string Line);
