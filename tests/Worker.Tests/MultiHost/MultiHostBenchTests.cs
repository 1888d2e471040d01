using System.Text.Json;

namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// <c>scripts/bench-multihost.sh</c> (part of <c>make bench</c>) at a small size: <c>adan bench allreduce</c> across two
/// hosts over TCP, next to the same on one host over TCP and over shared memory, and its hosts gone afterwards.
/// </summary>
[Collection(MultiHostCollection.Name)]
[Trait("Category", MultiHostCollection.Category)]
public class MultiHostBenchTests
{
    [NetnsFact]
    public void AllReduceIsMeasuredAcrossHostsAndOnOneAndTheHostsAreRemoved()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var output = Path.Combine(temp.Path, "allreduce-hosts.json");
        var name = $"b{Environment.ProcessId % 0x1000000:x}";
        var (exitCode, log) = NetnsCluster.Run("bash", [Path.Combine(TestFiles.RepoRoot, "scripts", "bench-multihost.sh")], new Dictionary<string, string>
        {
            ["NETNS_CLUSTER_NAME"] = name, ["BENCH_MIB"] = "2", ["BENCH_ITERATIONS"] = "3", ["BENCH_OUT"] = output,
        });

        Assert.True(exitCode == 0, log);
        var records = JsonDocument.Parse(File.ReadAllText(output)).RootElement.EnumerateArray().ToList();
        Assert.Equal(["1 host, shared memory", "1 host, tcp", "2 hosts, tcp"], records.Select(r => r.GetProperty("placement").GetString()).Order());
        foreach (var record in records)
        {
            Assert.Equal(record.GetProperty("placement").GetString()!.StartsWith('2') ? 2 : 1, record.GetProperty("hosts").GetInt32());
            Assert.Equal(2, record.GetProperty("ranks").GetInt32());
            Assert.Equal(2, record.GetProperty("mib").GetInt32());
            Assert.True(record.GetProperty("ours_gbps").GetDouble() > 0 && record.GetProperty("raw_mpi_gbps").GetDouble() > 0, record.ToString());
        }
        var (_, namespaces) = NetnsCluster.Run("ip", ["netns", "list"]);
        Assert.DoesNotContain($"{name}-h", namespaces);
        Assert.False(Directory.Exists(Path.Combine("/run/adan-netns", name)), "the bench left its cluster's state behind");
    }
}
