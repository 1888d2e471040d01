using System.Diagnostics;
using Adan.Worker.Launch;

namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// Hosts in network namespaces on a bridge, made by <c>scripts/netns-cluster.sh up N</c> for one test under a name of its
/// own and removed by <see cref="Dispose"/> (<c>down</c>), which a test calls in a <c>using</c> so that a failing test
/// removes them too.
/// </summary>
internal sealed class NetnsCluster : IDisposable
{
    private static int s_clusters;

    /// <summary>Why namespace hosts cannot be made here, or null when they can.</summary>
    public static string? Unavailable { get; } = FindWhyUnavailable();

    private NetnsCluster(string name, string state)
    {
        Name = name;
        State = state;
        var environment = File.ReadAllLines(Path.Combine(state, "env"))
            .Where(l => l.StartsWith("export ", StringComparison.Ordinal))
            .Select(l => l["export ".Length..].Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1]);
        BridgeAddress = environment["NETNS_BRIDGE_ADDRESS"];
        Hostfile = environment["NETNS_HOSTFILE"];
        LaunchEnvironment = environment.Where(kv => kv.Key.StartsWith("HYDRA_", StringComparison.Ordinal) || kv.Key.StartsWith("UCX_", StringComparison.Ordinal))
            .ToDictionary();
        Addresses = File.ReadAllLines(Path.Combine(state, "addresses"))
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => p[1]);
        Hosts = File.ReadAllLines(Hostfile);
    }

    /// <summary>The cluster's name (the prefix of its host names).</summary>
    public string Name { get; }

    /// <summary>The script's state directory for this cluster.</summary>
    public string State { get; }

    /// <summary>The host names, in order.</summary>
    public IReadOnlyList<string> Hosts { get; }

    /// <summary>Each host's address on the bridge.</summary>
    public IReadOnlyDictionary<string, string> Addresses { get; }

    /// <summary>The bridge's address in this (the root) namespace, where a coordinator started here is reachable.</summary>
    public string BridgeAddress { get; }

    /// <summary>The hostfile listing every host.</summary>
    public string Hostfile { get; }

    /// <summary>What <c>adan launch</c> (MPICH's Hydra and UCX) needs to start ranks on the hosts and talk TCP between them.</summary>
    public IReadOnlyDictionary<string, string> LaunchEnvironment { get; }

    /// <summary>
    /// A cluster name no other test or process uses: <paramref name="prefix"/>, this process's id and a counter, 8
    /// characters at most (the script prefixes interface names, 15 characters, with it).
    /// </summary>
    public static string NewName(char prefix = 't') => $"{prefix}{Environment.ProcessId % 0x100000:x}{Interlocked.Increment(ref s_clusters) % 16:x}";

    /// <summary>Makes <paramref name="hosts"/> hosts under a name no other test or process uses.</summary>
    public static NetnsCluster Up(int hosts)
    {
        var name = NewName();
        var state = Path.Combine("/run/adan-netns", name);
        var (exitCode, output) = Script(name, ["up", hosts.ToString()]);
        if (exitCode != 0)
        {
            Script(name, ["down"]);
            Assert.Fail($"netns-cluster.sh up {hosts} failed (exit code {exitCode}):\n{output}");
        }
        return new NetnsCluster(name, state);
    }

    /// <summary>The host whose namespace process <paramref name="pid"/> runs in, or null when it runs in none of them.</summary>
    public string? HostOf(int pid)
    {
        var (_, output) = Run("ip", ["netns", "identify", pid.ToString()]);
        var host = output.Trim();
        return Hosts.Contains(host) ? host : null;
    }

    /// <summary>A hostfile in <paramref name="directory"/> with the first <paramref name="count"/> hosts, one slot each.</summary>
    public string HostfileOf(int count, string directory)
    {
        var path = Path.Combine(directory, $"hostfile-{count}");
        File.WriteAllLines(path, Hosts.Take(count).Select(h => $"{h}:1"));
        return path;
    }

    /// <summary>The processes in <paramref name="host"/>'s namespace (<c>ip netns pids</c>).</summary>
    public IReadOnlyList<int> Pids(string host) =>
        [.. Run("ip", ["netns", "pids", host]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];

    /// <summary>The bridge-side end of <paramref name="host"/>'s link (the script's <c>NAMEvI</c>).</summary>
    public string LinkOf(string host) => $"{Name}v{Hosts.ToList().IndexOf(host) + 1}";

    /// <summary>The bridge, which links every host to this namespace (where the launcher and the coordinator run).</summary>
    public string Bridge => $"{Name}br";

    /// <summary>Takes a link down (a cut cable) or up again.</summary>
    public void SetLink(string link, bool up)
    {
        var (exitCode, output) = Run("ip", ["link", "set", link, up ? "up" : "down"]);
        Assert.True(exitCode == 0, $"ip link set {link} failed: {output}");
    }

    /// <summary>Removes the hosts, the bridge and the state (<c>netns-cluster.sh down</c>).</summary>
    public void Dispose()
    {
        var (exitCode, output) = Script(Name, ["down"]);
        Assert.True(exitCode == 0, $"netns-cluster.sh down failed (exit code {exitCode}):\n{output}");
    }

    /// <summary>Runs scripts/netns-cluster.sh for the cluster <paramref name="name"/>: its exit code and its output.</summary>
    internal static (int ExitCode, string Output) Script(string name, string[] arguments) =>
        Run(Path.Combine(TestFiles.RepoRoot, "scripts", "netns-cluster.sh"), arguments, new Dictionary<string, string> { ["NETNS_CLUSTER_NAME"] = name });

    private static string? FindWhyUnavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "multi-host tests need Linux network namespaces";
        }
        if (!Environment.IsPrivilegedProcess)
        {
            return "multi-host tests need root for network namespaces (scripts/netns-cluster.sh); run the suite as root";
        }
        try
        {
            if (Run("ip", ["netns", "list"]) is { ExitCode: not 0 } list)
            {
                return $"multi-host tests need 'ip netns' (iproute2): {list.Output.Trim()}";
            }
            if (Run("unshare", ["--net", "--uts", "true"]) is { ExitCode: not 0 } probe)
            {
                return $"multi-host tests need to create network namespaces, which fails here: {probe.Output.Trim()}";
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"multi-host tests need iproute2 and util-linux ('ip', 'unshare'): {e.Message}";
        }
        return null;
    }

    internal static (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
