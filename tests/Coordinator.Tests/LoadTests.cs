using System.Diagnostics;
using Adan.Coordinator.V1;
using Xunit.Abstractions;

namespace Adan.Coordinator.Tests;

public sealed class LoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TwoHundredRanksHeartbeatForTenSecondsWithoutErrors()
    {
        const int worldSize = 200;
        var duration = TimeSpan.FromSeconds(10);
        var interval = TimeSpan.FromMilliseconds(100);
        await using var c = await TestCoordinator.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, worldSize).Select(rank => c.Membership.JoinAsync(new JoinRequest
        {
            JobId = "load", Rank = rank, WorldSize = worldSize, Host = "test-host", Pid = 1000 + rank,
        }, c.Headers).ResponseAsync));

        var clock = Stopwatch.StartNew();
        var latencies = await Task.WhenAll(Enumerable.Range(0, worldSize).Select(async rank =>
        {
            var mine = new List<double>();
            var request = new HeartbeatRequest { JobId = "load", Rank = rank };
            while (clock.Elapsed < duration)
            {
                var start = Stopwatch.GetTimestamp();
                var reply = await c.Membership.HeartbeatAsync(request, c.Headers, DateTime.UtcNow.AddSeconds(5));
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                Assert.Equal(JobState.Running, reply.State);
                await Task.Delay(interval);
            }
            return mine;
        }));

        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Percentile(double p) => all[Math.Min(all.Length - 1, (int)Math.Ceiling(p * all.Length) - 1)];
        output.WriteLine($"{all.Length} heartbeats from {worldSize} ranks in {clock.Elapsed.TotalSeconds:F1} s: "
            + $"p50 {Percentile(0.50):F2} ms, p99 {Percentile(0.99):F2} ms, max {all[^1]:F2} ms");
        Assert.True(all.Length >= worldSize * 10, $"only {all.Length} heartbeats");
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "load" }, c.Headers);
        Assert.Equal(JobState.Running, status.State);
    }
}
