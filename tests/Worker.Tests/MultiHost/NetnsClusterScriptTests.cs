namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// <c>scripts/netns-cluster.sh</c> itself: <c>up</c> again repairs, <c>down</c> removes exactly what <c>up</c> made
/// (twice is a no-op), a namespace it did not make is left alone, a host reaches only the bridge and the other hosts,
/// and bad requests are refused in one line.
/// </summary>
[Collection(MultiHostCollection.Name)]
[Trait("Category", MultiHostCollection.Category)]
public class NetnsClusterScriptTests
{
    private static SortedSet<string> Namespaces() =>
        [.. NetnsCluster.Run("ip", ["netns", "list"]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0])];

    private static SortedSet<string> Links() =>
        [.. NetnsCluster.Run("ip", ["-o", "link", "show"]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')[1].Trim().Split('@')[0])];

    private static string OnHost(string name, string host, params string[] command)
    {
        var (exitCode, output) = NetnsCluster.Script(name, ["exec", host, .. command]);
        Assert.True(exitCode == 0, $"exec {host} {string.Join(' ', command)} failed ({exitCode}): {output}");
        return output;
    }

    [NetnsFact]
    public void UpAgainRepairsAHostAndDownRemovesExactlyWhatUpMadeTwiceOver()
    {
        var name = NetnsCluster.NewName('s');
        var (namespaces, links) = (Namespaces(), Links());
        try
        {
            Assert.Equal(0, NetnsCluster.Script(name, ["up", "2"]).ExitCode);
            Assert.Equal(0, NetnsCluster.Script(name, ["up", "2"]).ExitCode);
            Assert.Equal([.. namespaces, $"{name}-h1", $"{name}-h2"], Namespaces());
            var address = OnHost(name, $"{name}-h2", "ip", "-4", "-o", "addr", "show", "eth0");

            // Host 2 loses its link; `up` again gives it back, with the same address.
            Assert.Equal(0, NetnsCluster.Run("ip", ["link", "del", $"{name}v2"]).ExitCode);
            Assert.DoesNotContain("eth0", NetnsCluster.Run("ip", ["netns", "exec", $"{name}-h2", "ip", "-o", "link", "show"]).Output);
            Assert.Equal(0, NetnsCluster.Script(name, ["up", "2"]).ExitCode);
            Assert.Equal(address.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3], OnHost(name, $"{name}-h2", "ip", "-4", "-o", "addr", "show", "eth0")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[3]);
            // Its host name is its own, as on a machine of its own.
            Assert.Equal($"{name}-h2", OnHost(name, $"{name}-h2", "hostname").Trim());

            // Another count while it is up is refused, naming the fix.
            var (resized, message) = NetnsCluster.Script(name, ["up", "3"]);
            Assert.Equal((1, true), (resized, message.Contains("run 'scripts/netns-cluster.sh down' first", StringComparison.Ordinal)));
        }
        finally
        {
            Assert.Equal(0, NetnsCluster.Script(name, ["down"]).ExitCode);
        }
        var (again, said) = NetnsCluster.Script(name, ["down"]);
        Assert.Equal((0, $"netns-cluster: '{name}' is not up"), (again, said.Trim()));
        Assert.Equal(namespaces, Namespaces());
        Assert.Equal(links, Links());
    }

    [NetnsFact]
    public void ANamespaceOfThatNameItDidNotMakeIsRefusedAndLeftAlone()
    {
        var name = NetnsCluster.NewName('s');
        var foreign = $"{name}-h1";
        Assert.Equal(0, NetnsCluster.Run("ip", ["netns", "add", foreign]).ExitCode);
        try
        {
            var (exitCode, output) = NetnsCluster.Script(name, ["up", "1"]);

            Assert.Equal(1, exitCode);
            Assert.Contains($"a netns named '{foreign}' exists that cluster '{name}' did not make; leaving it alone (choose another NETNS_CLUSTER_NAME)", output);
            Assert.Equal(0, NetnsCluster.Script(name, ["down"]).ExitCode);
            Assert.Contains(foreign, Namespaces());
        }
        finally
        {
            NetnsCluster.Run("ip", ["netns", "del", foreign]);
            NetnsCluster.Script(name, ["down"]);
        }
    }

    [NetnsFact]
    public void AHostReachesTheBridgeAndTheOtherHostsAndNothingElse()
    {
        using var cluster = NetnsCluster.Up(2);
        var host = cluster.Hosts[0];

        var routes = OnHost(cluster.Name, host, "ip", "-4", "route", "show");
        Assert.DoesNotContain("default", routes);
        Assert.Single(routes.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("dev eth0", OnHost(cluster.Name, host, "ip", "route", "get", cluster.Addresses[cluster.Hosts[1]]));
        Assert.Contains("dev eth0", OnHost(cluster.Name, host, "ip", "route", "get", cluster.BridgeAddress));
        // Anything outside the cluster's /24: no route at all.
        var (exitCode, output) = NetnsCluster.Script(cluster.Name, ["exec", host, "ip", "route", "get", "192.0.2.1"]);
        Assert.True(exitCode != 0 && output.Contains("unreachable", StringComparison.OrdinalIgnoreCase), output);
    }

    [NetnsFact]
    public void BadRequestsAndAUserWhoIsNotRootAreRefusedInOneLine()
    {
        var name = NetnsCluster.NewName('s');
        foreach (var count in new[] { "0", "abc", "201" })
        {
            var (exitCode, output) = NetnsCluster.Script(name, ["up", count]);
            Assert.Equal((1, $"netns-cluster: up {count}: the number of hosts must be 1..200"), (exitCode, output.Trim()));
        }
        var (usage, text) = NetnsCluster.Script(name, ["sideways"]);
        Assert.Equal((2, "usage: scripts/netns-cluster.sh up N | down | exec HOST CMD..."), (usage, text.Trim()));
        var (noHost, said) = NetnsCluster.Script(name, ["exec", "nowhere", "true"]);
        Assert.Equal(1, noHost);
        Assert.StartsWith($"netns-cluster: no host 'nowhere' in cluster '{name}'", said.Trim());

        // The same request from an unprivileged user: refused before anything is touched.
        var script = Path.Combine(TestFiles.RepoRoot, "scripts", "netns-cluster.sh");
        var (refused, why) = NetnsCluster.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "bash", script, "up", "1"],
            new Dictionary<string, string> { ["NETNS_CLUSTER_NAME"] = name });
        Assert.Equal((1, "netns-cluster: network namespaces need root; run as root (or with sudo)"), (refused, why.Trim()));
        Assert.DoesNotContain($"{name}-h1", Namespaces());
    }
}
