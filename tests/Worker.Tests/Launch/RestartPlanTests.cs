using Adan.Worker.Commands;
using Adan.Worker.Launch;

namespace Adan.Worker.Tests.Launch;

/// <summary>The shape of an elastic restart's next attempt: the failed host dropped, the global batch kept or refused.</summary>
public sealed class RestartPlanTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adan-restart-plan-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Hostfile Write(params string[] lines)
    {
        var path = Path.Combine(_dir, "hostfile");
        File.WriteAllLines(path, lines);
        return Hostfile.Read(path);
    }

    [Fact]
    public void AHostfileReadsHostsSlotsCommentsAndTrailingWords()
    {
        var hosts = Write("# cluster", "node-1:2", "", "node-2   # one slot", "10.0.0.3:4 ifhn=10.0.0.3");

        Assert.Equal([("node-1", 2), ("node-2", 1), ("10.0.0.3", 4)], hosts.Hosts.Select(h => (h.Host, h.Slots)));
        Assert.Equal(7, hosts.Slots);
        Assert.Equal("10.0.0.3:4 ifhn=10.0.0.3", hosts.Hosts[2].Line);
    }

    [Theory]
    [InlineData("node-1:0")]
    [InlineData("node-1:two")]
    [InlineData(":2")]
    [InlineData("a:1:2")]
    public void ABadHostfileLineIsAUsageErrorNamingIt(string line)
    {
        var e = Assert.Throws<UsageException>(() => Write("node-0", line));
        Assert.Contains($"'{line}' is not host[:slots]", e.Message);
    }

    [Fact]
    public void TheFailedHostIsDroppedByNameOrFirstLabelButNeverByAnAddressPrefix()
    {
        var hosts = Write("node-1.cluster.local:2", "node-2:2", "10.0.0.3:1");

        Assert.Equal(["node-2", "10.0.0.3"], hosts.Without("NODE-1").Remaining.Hosts.Select(h => h.Host));
        Assert.Equal(["node-1.cluster.local", "10.0.0.3"], hosts.Without("node-2.cluster.local").Remaining.Hosts.Select(h => h.Host));
        Assert.False(hosts.Without("10").Dropped);
        Assert.True(hosts.Without("10.0.0.3").Dropped);
    }

    [Fact]
    public void ByDefaultTheNextAttemptHasTheSameShape()
    {
        var plan = new RestartPlan(4, Write("a:2", "b:2"), null);

        Assert.Same(plan, plan.Next("a", minRanks: null, globalBatch: 128, microBatch: 16).Plan);
        // An unknown host (an alias the hostfile does not use) drops nothing.
        Assert.Same(plan, plan.Next("elsewhere", minRanks: 2, globalBatch: 128, microBatch: 16).Plan);
    }

    [Fact]
    public void WithMinRanksTheFailedHostIsDroppedAndAccumulationKeepsTheGlobalBatch()
    {
        // 3 ranks × micro_batch 16 × accumulation 2 = 96; on 2 ranks: accumulation 3.
        var plan = new RestartPlan(3, Write("h1", "h2", "h3"), null);

        var (next, refusal) = plan.Next("h3", minRanks: 2, globalBatch: 96, microBatch: 16);

        Assert.Null(refusal);
        Assert.Equal(2, next!.Ranks);
        Assert.Equal(3, next.Accumulation);
        Assert.Equal(["h1", "h2"], next.Hosts!.Hosts.Select(h => h.Host));
    }

    [Fact]
    public void AGlobalBatchTheSurvivorsCannotKeepIsRefusedNamingTheNumbers()
    {
        // 3 × 16 × 1 = 48 on 2 ranks would need accumulation 1.5.
        var plan = new RestartPlan(3, Write("h1", "h2", "h3"), null);

        var (next, refusal) = plan.Next("h1", minRanks: 2, globalBatch: 48, microBatch: 16);

        Assert.Null(next);
        Assert.Contains("global batch 48 on 2 rank(s)", refusal);
        Assert.Contains("2 × micro_batch 16 = 32 does not divide it", refusal);
    }

    [Fact]
    public void FewerSlotsThanMinRanksAreRefused()
    {
        var plan = new RestartPlan(4, Write("h1:2", "h2:2"), null);

        var (next, refusal) = plan.Next("h2", minRanks: 3, globalBatch: 64, microBatch: 16);

        Assert.Null(next);
        Assert.Contains("without h2, 2 slot(s) are left on 1 host(s), fewer than --min-ranks 3", refusal);
    }
}
