using System.Globalization;
using System.Net;
using System.Text;
using Adan.TestSupport;
using Adan.Worker.Tests.Cli;

namespace Adan.Worker.Tests.MultiHost;

/// <summary>What one <c>adan launch</c> across namespace hosts did, and where its ranks ran while they trained.</summary>
/// <param name="Result">The launcher's exit code and output.</param>
/// <param name="RankHosts">The host of each rank process seen at the first progress line, in pid order.</param>
/// <param name="HostLinks">Established TCP connections between two hosts' addresses seen then, as "hostA-hostB" (sorted pair).</param>
/// <param name="Exited">When the launcher ended (or was killed at the timeout).</param>
internal sealed record MultiHostRun(CliResult Result, IReadOnlyList<string?> RankHosts, IReadOnlySet<string> HostLinks, DateTime Exited);

/// <summary>
/// <c>adan launch</c> across the hosts of a <see cref="NetnsCluster"/>, as a user runs it: from this (the root)
/// namespace, the coordinator on the bridge address, Hydra's proxies started on the hosts through the cluster's
/// launcher-exec, MPI over TCP.
/// </summary>
internal static class MultiHostLaunch
{
    /// <summary>
    /// The launch command line: the one place that says how ranks on other hosts reach the coordinator (today plain
    /// TCP on the bridge address; the TLS flags belong here).
    /// </summary>
    /// <remarks>
    /// The coordinator serves TLS on the bridge address with a certificate made for it, which every rank trusts through
    /// --tls-ca: a network address without TLS is refused.
    /// </remarks>
    public static string[] Arguments(NetnsCluster cluster, SelfSignedCertificate certificate, int ranks, string hostfile, IEnumerable<string> command,
        IEnumerable<string>? launchOptions = null) =>
    [
        "launch", "-n", ranks.ToString(CultureInfo.InvariantCulture), "--hostfile", hostfile, "--listen", $"{cluster.BridgeAddress}:0",
        "--tls-cert", certificate.CertificateFile, "--tls-key", certificate.KeyFile, "--tls-ca", certificate.CertificateFile, .. launchOptions ?? [],
        "--", .. command,
    ];

    /// <summary>
    /// Runs the job to its end (killed after <paramref name="timeout"/>); at the first progress line of rank 0 (so the
    /// command should log every step and train for a few more) it notes the host of every rank and the TCP connections
    /// between hosts.
    /// </summary>
    /// <param name="launchOptions">More options of <c>adan launch</c> (before the <c>--</c>).</param>
    /// <param name="environment">More variables for the launcher and its ranks.</param>
    /// <param name="onLine">Called with every line of the launcher's output as it comes (on the reading thread).</param>
    public static MultiHostRun Run(NetnsCluster cluster, int ranks, string hostfile, IEnumerable<string> command, TimeSpan timeout,
        IEnumerable<string>? launchOptions = null, IReadOnlyDictionary<string, string>? environment = null, Action<string>? onLine = null)
    {
        using var certificate = SelfSignedCertificate.Create(cluster.BridgeAddress);
        var variables = cluster.LaunchEnvironment.ToDictionary();
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            variables[name] = value;
        }
        using var launcher = AdanCli.Start(Arguments(cluster, certificate, ranks, hostfile, command, launchOptions), variables);
        try
        {
            var stderr = launcher.StandardError.ReadToEndAsync();
            var stdout = new StringBuilder();
            var rankHosts = new List<string?>();
            var links = new HashSet<string>();
            var reading = Task.Run(() =>
            {
                while (launcher.StandardOutput.ReadLine() is { } line)
                {
                    stdout.AppendLine(line);
                    if (line.StartsWith("epoch ", StringComparison.Ordinal) && rankHosts.Count == 0)
                    {
                        foreach (var pid in ProcessTable.Ranks(launcher.Id))
                        {
                            rankHosts.Add(cluster.HostOf(pid));
                            links.UnionWith(HostLinks(cluster, pid));
                        }
                    }
                    onLine?.Invoke(line);
                }
            });
            if (!launcher.WaitForExit(timeout))
            {
                launcher.Kill(entireProcessTree: true);
                launcher.WaitForExit();
                var killed = DateTime.UtcNow;
                reading.Wait();
                return new MultiHostRun(new CliResult(-1, stdout.ToString(), stderr.Result + $"\n(timed out after {timeout})"), rankHosts, links, killed);
            }
            var exited = DateTime.UtcNow;
            reading.Wait();
            return new MultiHostRun(new CliResult(launcher.ExitCode, stdout.ToString(), stderr.Result), rankHosts, links, exited);
        }
        finally
        {
            if (!launcher.HasExited)
            {
                launcher.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>
    /// The established TCP connections of <paramref name="pid"/>'s namespace whose two ends are addresses of two
    /// different hosts (the coordinator and Hydra's control connections end at the bridge address instead).
    /// </summary>
    private static IEnumerable<string> HostLinks(NetnsCluster cluster, int pid)
    {
        var hostByAddress = cluster.Addresses.ToDictionary(kv => kv.Value, kv => kv.Key);
        string[] table;
        try
        {
            table = File.ReadAllLines($"/proc/{pid}/net/tcp");
        }
        catch (IOException)
        {
            yield break;
        }
        foreach (var row in table.Skip(1))
        {
            // sl local_address rem_address st ...: addresses as hex of the network-order bytes, read little-endian.
            var fields = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4 || fields[3] != "01")
            {
                continue;
            }
            var local = Address(fields[1]);
            var remote = Address(fields[2]);
            if (hostByAddress.TryGetValue(local, out var a) && hostByAddress.TryGetValue(remote, out var b) && a != b)
            {
                yield return string.CompareOrdinal(a, b) < 0 ? $"{a}-{b}" : $"{b}-{a}";
            }
        }
    }

    private static string Address(string hexEndpoint) =>
        new IPAddress(uint.Parse(hexEndpoint.Split(':')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToString();
}
