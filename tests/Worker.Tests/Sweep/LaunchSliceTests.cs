using Adan.Worker.Commands;
using Adan.Worker.Commands.Sweep;
using Adan.Worker.Launch;

namespace Adan.Worker.Tests.Sweep;

/// <summary>How <c>adan sweep --parallel P</c> splits the machines into disjoint slices and launches a run on one.</summary>
public class LaunchSliceTests
{
    private static readonly PlannedRun s_run = new(64, "adan", 2, new BatchDecomposition(32, 1), 512, 8, 8, 1, 0.004, "{}", ["micro_batch=32", "epochs=1"]);

    [Fact]
    public void HostsAreGroupedInFileOrderUntilEachGroupHoldsTheRanksAndTheRestStayIdle()
    {
        var hostfile = Hosts("a:1", "b:1", "c:2", "d:4", "e:2");

        var groups = LaunchSlices.SplitHosts(hostfile, parallel: 3, ranks: 2, "hosts.txt");

        Assert.Equal([["a", "b"], ["c"], ["d"]], groups.Select(g => g.Hosts.Select(h => h.Host).ToArray()).ToArray());
    }

    [Fact]
    public void MoreLaunchesThanTheHostsHoldIsAUsageErrorNamingWhatFits()
    {
        var error = Assert.Throws<UsageException>(() => LaunchSlices.SplitHosts(Hosts("a:2", "b:1", "c:1"), parallel: 3, ranks: 2, "hosts.txt"));

        Assert.Equal("--parallel 3: the 3 host(s) of hosts.txt (4 slots) hold 2 disjoint launch(es) of -n 2; use --parallel 2, or add hosts to the hostfile", error.Message);
    }

    [Fact]
    public void EachSliceOfHostsIsWrittenAsItsOwnHostfileWithTheLinesAsGiven()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var groups = LaunchSlices.SplitHosts(Hosts("a:2 ifhn=10.0.0.1", "b:2"), parallel: 2, ranks: 2, "hosts.txt");

        var slices = LaunchSlices.OfHosts(groups, Path.Combine(temp.Path, "hostfiles"));

        Assert.Equal([1, 2], slices.Select(s => s.Index));
        Assert.Equal(["a:2 ifhn=10.0.0.1"], File.ReadAllLines(Path.Combine(temp.Path, "hostfiles", "slice-1")));
        Assert.Equal(["b:2"], File.ReadAllLines(slices[1].Hostfile!));
        Assert.All(slices, s => Assert.Null(s.Threads));
    }

    [Theory]
    [InlineData(2, 1, 8, "0-3|4-7", 4)]
    [InlineData(3, 2, 8, "0-1|2-4|5-7", 1)]
    [InlineData(2, 4, 2, "0|1", 1)]
    public void CoresAreSplitIntoContiguousPinnedSlicesWithTheirShareOfThreads(int parallel, int ranks, int cores, string cpus, int threads)
    {
        var slices = LaunchSlices.OfCores(parallel, ranks, cores, [.. Enumerable.Range(0, cores)], pin: true);

        Assert.Equal(cpus, string.Join('|', slices.Select(s => CpuPinning.Format(s.Cpus!))));
        Assert.All(slices, s => Assert.Equal(threads, s.Threads));
        Assert.All(slices, s => Assert.Null(s.Hostfile));
    }

    [Fact]
    public void WithoutTasksetTheSlicesKeepTheirThreadsButAreNotPinned()
    {
        var slices = LaunchSlices.OfCores(2, 1, 8, [.. Enumerable.Range(0, 8)], pin: false);

        Assert.All(slices, s => Assert.Null(s.Cpus));
        Assert.All(slices, s => Assert.Equal(4, s.Threads));
    }

    [Fact]
    public void MoreLaunchesThanCoresIsAUsageErrorAndMoreRanksThanCoresIsStated()
    {
        var error = Assert.Throws<UsageException>(() => LaunchSlices.OfCores(3, 1, 2, [0, 1], pin: true));
        Assert.StartsWith("--parallel 3: this machine has 2 core(s)", error.Message);
        Assert.Contains("use --parallel 2 or less, or --hostfile", error.Message);

        Assert.Null(LaunchSlices.Oversubscription(2, 2, 4));
        Assert.Equal("--parallel 2 × -n 2 = 4 ranks on 2 core(s): oversubscribed, each rank computes on 1 thread and the runs are slower than on cores of their own",
            LaunchSlices.Oversubscription(2, 2, 2));
    }

    [Theory]
    [InlineData("0-3,8,10-11", new[] { 0, 1, 2, 3, 8, 10, 11 })]
    [InlineData("5", new[] { 5 })]
    [InlineData("2,0-1\n", new[] { 0, 1, 2 })]
    public void CpuListsReadAndWriteAsLinuxWritesThem(string list, int[] cpus)
    {
        Assert.Equal(cpus, CpuPinning.Parse(list));
        Assert.Equal(cpus, CpuPinning.Parse(CpuPinning.Format(cpus)));
    }

    [Fact]
    public void ASlicesThreadsArePassedUnlessTheRunsConfigSetsThemAndNeverJoinItsPlan()
    {
        var slice = new LaunchSlice(2, 2, "/out/hostfiles/slice-2", 3, null);
        var launcher = new RunLauncher(slice, TimeProvider.System);

        Assert.Equal(["launch", "-n", "2", "--hostfile", "/out/hostfiles/slice-2", "--", "train", "--config", "/out/runs/64-adan/config.json",
            "--set", "micro_batch=32", "--set", "epochs=1", "--set", "threads=3", "--set", "run_dir=/out/runs/64-adan"], launcher.Arguments(s_run, "/out/runs/64-adan"));
        Assert.DoesNotContain("threads=3", launcher.Arguments(s_run with { Threads = 1 }, "/out/runs/64-adan"));
        Assert.DoesNotContain("threads=3", s_run.Overrides);
        Assert.Equal("slice 2/2: hostfile slice-2, threads 1", slice.Describe(s_run with { Threads = 1 }));
        Assert.Null(LaunchSlice.Whole(null).Describe(s_run));
        Assert.DoesNotContain(new RunLauncher(LaunchSlice.Whole(null), TimeProvider.System).Arguments(s_run, "/r"), a => a.StartsWith("threads=", StringComparison.Ordinal));
    }

    private static Hostfile Hosts(params string[] lines) =>
        new([.. lines.Select(line => new HostSlots(line.Split(' ')[0].Split(':')[0], int.Parse(line.Split(' ')[0].Split(':')[1]), line))]);
}
