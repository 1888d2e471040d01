using System.Diagnostics;
using System.Text.Json;
using Adan.TestSupport;
using Adan.Worker.Tests.Cli;

namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// Hosts that fail under a 3-host job (heartbeat timeout 5 s): every process of one host killed, one host's link cut,
/// the coordinator's link (the bridge) cut, every host killed and cut off. Each time the job ends within a stated bound,
/// the launcher names the host (or, for the coordinator's link, the coordinator's host), and no process of the job is
/// left on any host; with <c>--max-restarts 1 --min-ranks 2</c> a cut or dead host is left out and the job finishes on
/// the other two with the same global batch.
/// </summary>
[Collection(MultiHostCollection.Name)]
[Trait("Category", MultiHostCollection.Category)]
public class HostFailureTests
{
    private const double HeartbeatTimeoutSeconds = 5;

    /// <summary>
    /// After the coordinator fails the job the launcher gives mpiexec 10 s to end on its own before it kills the job's
    /// process tree; a few seconds more for a busy machine.
    /// </summary>
    private static readonly TimeSpan s_afterTimeout = TimeSpan.FromSeconds(10 + 5);

    /// <summary>A long job (about 2000 steps) that logs every step: it is always mid-training when the host fails.</summary>
    private static string[] Train(string runDir, params string[] settings) =>
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=960", "--set", "test_subset=100", "--set", "epochs=100",
        "--set", "micro_batch=16", "--set", "log_every=1", "--set", "resume=latest", "--set", $"run_dir={runDir}",
        .. settings.SelectMany(s => new[] { "--set", s }),
    ];

    /// <summary>The launcher, started on the cluster, its output collected; <paramref name="fault"/> runs at the first step line past 5.</summary>
    private static (CliResult Result, TimeSpan SinceFault) Launch(NetnsCluster cluster, string[] command, Action fault, string[]? launchOptions = null)
    {
        DateTime? faulted = null;
        Exception? faultError = null;
        var run = MultiHostLaunch.Run(cluster, 3, cluster.Hostfile, command, TimeSpan.FromMinutes(4),
            ["--heartbeat-timeout", HeartbeatTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), .. launchOptions ?? []],
            onLine: line =>
            {
                if (faulted is null && line.StartsWith("epoch ", StringComparison.Ordinal) && line.Contains(" step 6/", StringComparison.Ordinal))
                {
                    faulted = DateTime.UtcNow;
                    try
                    {
                        fault();
                    }
                    catch (Exception e)
                    {
                        // Reported after the launcher ended: its output must still be read meanwhile.
                        faultError = e;
                    }
                }
            });
        if (faultError is not null)
        {
            throw new InvalidOperationException("the injected fault failed", faultError);
        }
        return (run.Result, faulted is { } at ? run.Exited - at : TimeSpan.Zero);
    }

    /// <summary>Waits (at most <paramref name="timeout"/>) until no process runs on any of <paramref name="hosts"/>.</summary>
    private static void WaitUntilEmpty(NetnsCluster cluster, IEnumerable<string> hosts, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (hosts.Any(h => cluster.Pids(h).Count > 0) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(20);
        }
    }

    private static void AssertNoProcessLeft(NetnsCluster cluster)
    {
        // The cut-off host's rank ends on its own once its coordinator has been unreachable past the timeout.
        WaitUntilEmpty(cluster, cluster.Hosts, TimeSpan.FromSeconds(HeartbeatTimeoutSeconds + 5));
        Assert.All(cluster.Hosts, h => Assert.True(cluster.Pids(h).Count == 0, $"{h} still runs {string.Join(", ", cluster.Pids(h))}"));
    }

    [NetnsFact]
    public void EveryProcessOfOneHostKilledEndsTheJobAtOnce()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();

        var (result, since) = Launch(cluster, Train(Path.Combine(temp.Path, "run")), () => KillAll(cluster, cluster.Hosts[2]));

        Assert.True(result.ExitCode == 1, result.Describe());
        // Hydra sees the host's proxy go and ends the job: no timeout is waited for. The coordinator saw rank 2's
        // connection close first (the others closed theirs when Hydra killed them), or, on a busy machine where it
        // handled the closes within JobFailure.SimultaneousMs of each other, rank 2's among the first ones named together.
        Assert.InRange(since.TotalSeconds, 0, 10);
        var rank2 = $@"rank 2 \({cluster.Hosts[2]} pid \d+\)";
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(result.Stderr,
            $@"adan launch: job \S+ failed \(mpiexec exit code \d+\): ({rank2} was the first to lose its connection"
            + $@"|(rank \d \(\S+ pid \d+\) and )*{rank2}( and rank \d \(\S+ pid \d+\))* were the first to lose their connections) to the coordinator"),
            result.Describe());
        AssertNoProcessLeft(cluster);
    }

    [NetnsFact]
    public void EveryHostsProcessesKilledAndTheirLinksCutEndsTheJobWithinTheTimeoutAndLeavesNoProcess()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();
        try
        {
            // Every host dies (its processes killed, then its link gone); the coordinator's host and the bridge stay.
            var (result, since) = Launch(cluster, Train(Path.Combine(temp.Path, "run")), () =>
            {
                foreach (var host in cluster.Hosts)
                {
                    KillAll(cluster, host);
                }
                // The killed processes closed their sockets (5 s at most) before the links go.
                WaitUntilEmpty(cluster, cluster.Hosts, TimeSpan.FromSeconds(5));
                foreach (var host in cluster.Hosts)
                {
                    cluster.SetLink(cluster.LinkOf(host), up: false);
                }
            }, ["--job-id", "all-hosts"]);

            // Hydra and the coordinator hear the hosts' connections close, or, when the links went first, nothing: then
            // Hydra waits, and the coordinator fails the job once the ranks are silent (half the timeout after their
            // connections closed, the whole timeout when it heard nothing), the launcher ending mpiexec 10 s later.
            Assert.True(result.ExitCode == 1, result.Describe());
            Assert.True(since.TotalSeconds < HeartbeatTimeoutSeconds + s_afterTimeout.TotalSeconds, $"ended {since.TotalSeconds:F1} s after the hosts went\n{result.Describe()}");
            var hosts = string.Join('|', cluster.Hosts);
            // Hosts killed together may lose their connections within the same instant: then the launcher names them together.
            var rank = $@"rank \d \(({hosts}) pid \d+\)";
            Assert.Matches($@"adan launch: job all-hosts failed \(mpiexec exit code \d+\): ({rank} was the first to lose its connection"
                + $@"|{rank}(, {rank})*( and {rank})+ were the first to lose their connections"
                + $@"|all 3 ranks, on {string.Join(", ", cluster.Hosts)}, sent no heartbeat)", result.Stderr);
            Assert.Empty(ProcessTable.WithEnvironment(Adan.Coordinator.Protocol.CoordinatorEnvironment.JobVariable, "all-hosts"));
        }
        finally
        {
            foreach (var host in cluster.Hosts)
            {
                cluster.SetLink(cluster.LinkOf(host), up: true);
            }
        }
    }

    [NetnsFact]
    public void AJobWhoseHostDiesRestartsWithoutThatHostFromTheLastCheckpoint()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();
        var runDir = Path.Combine(temp.Path, "run");

        // Every process of the third host killed: the host the first closed connection names is the one left out.
        var (result, _) = Launch(cluster,
            Train(runDir, "epochs=2", "accumulation=2", "checkpoint_every=4", "async_checkpoint=false"),
            () => KillAll(cluster, cluster.Hosts[2]), ["--max-restarts", "1", "--min-ranks", "2", "--job-id", "died"]);

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Matches($@"adan launch: job died failed \(mpiexec exit code \d+\): rank 2 \({cluster.Hosts[2]} pid \d+\) was the first to lose", result.Stderr);
        Assert.Contains($"adan launch: restart 1 of 1: job died-restart1 resumes from the last committed checkpoint on 2 rank(s) without {cluster.Hosts[2]}, "
            + "accumulation 3 (global batch 96)", result.Stderr);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement;
        Assert.Equal((2, 20L, 96L, 1), (summary.GetProperty("world_size").GetInt32(), summary.GetProperty("steps").GetInt64(),
            summary.GetProperty("global_batch").GetInt64(), summary.GetProperty("restarts").GetInt32()));
        AssertNoProcessLeft(cluster);
    }

    private static void KillAll(NetnsCluster cluster, string host)
    {
        foreach (var pid in cluster.Pids(host))
        {
            try
            {
                Process.GetProcessById(pid).Kill();
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
    }

    [NetnsFact]
    public void OneHostsLinkCutEndsTheJobWithinTheTimeoutNamingThatHost()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();
        var cut = cluster.LinkOf(cluster.Hosts[2]);
        try
        {
            var (result, since) = Launch(cluster, Train(Path.Combine(temp.Path, "run")), () => cluster.SetLink(cut, up: false));

            Assert.True(result.ExitCode == 1, result.Describe());
            Assert.InRange(since.TotalSeconds, HeartbeatTimeoutSeconds, HeartbeatTimeoutSeconds + s_afterTimeout.TotalSeconds);
            Assert.Matches($@"adan launch: job \S+ failed .*: rank 2 \({cluster.Hosts[2]} pid \d+\) sent no heartbeat", result.Stderr);
            AssertNoProcessLeft(cluster);
        }
        finally
        {
            cluster.SetLink(cut, up: true);
        }
    }

    [NetnsFact]
    public void TheCoordinatorsLinkCutEndsTheJobWithinTheTimeoutNamingTheCoordinatorsSide()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();
        try
        {
            var (result, since) = Launch(cluster, Train(Path.Combine(temp.Path, "run")), () => cluster.SetLink(cluster.Bridge, up: false));

            Assert.True(result.ExitCode == 1, result.Describe());
            Assert.InRange(since.TotalSeconds, HeartbeatTimeoutSeconds, HeartbeatTimeoutSeconds + s_afterTimeout.TotalSeconds);
            Assert.Contains($"all 3 ranks, on {string.Join(", ", cluster.Hosts)}, sent no heartbeat", result.Stderr);
            Assert.Contains($"the coordinator lost every host at once (the network of its own host, {Environment.MachineName},", result.Stderr);
            AssertNoProcessLeft(cluster);
        }
        finally
        {
            cluster.SetLink(cluster.Bridge, up: true);
        }
    }

    [NetnsFact]
    public void AJobWhoseHostIsCutOffRestartsOnTheTwoOthersFromTheLastCheckpointWithTheSameGlobalBatch()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();
        var runDir = Path.Combine(temp.Path, "run");
        var cut = cluster.LinkOf(cluster.Hosts[2]);
        try
        {
            // Global batch 96 = 3 × 16 × 2 = 2 × 16 × 3; 960 samples make 10 steps an epoch, 2 epochs 20 steps.
            var (result, _) = Launch(cluster,
                Train(runDir, "epochs=2", "accumulation=2", "checkpoint_every=4", "async_checkpoint=false"),
                () => cluster.SetLink(cut, up: false), ["--max-restarts", "1", "--min-ranks", "2", "--job-id", "cut"]);

            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.Contains($"adan launch: restart 1 of 1: job cut-restart1 resumes from the last committed checkpoint on 2 rank(s) without {cluster.Hosts[2]}, "
                + "accumulation 3 (global batch 96)", result.Stderr);
            var resumed = Assert.Single(result.StdoutLines, l => l.StartsWith("resumed from ", StringComparison.Ordinal));
            Assert.Matches(@"step-0000000004 at step 4|step-0000000008 at step 8", resumed);
            var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement;
            Assert.Equal((2, 20L, 96L, 1), (summary.GetProperty("world_size").GetInt32(), summary.GetProperty("steps").GetInt64(),
                summary.GetProperty("global_batch").GetInt64(), summary.GetProperty("restarts").GetInt32()));
            AssertNoProcessLeft(cluster);
        }
        finally
        {
            cluster.SetLink(cut, up: true);
        }
    }
}
