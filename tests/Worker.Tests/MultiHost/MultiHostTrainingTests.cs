using System.Text.Json;
using Adan.Worker.Tests.Cli;

namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// Training across hosts: <c>adan launch</c> from this namespace, ranks on 2 and 3 namespace hosts, MPI over TCP
/// between them and the coordinator on the bridge address; then a resume on another number of hosts. A tiny MLP for a
/// few steps: these check placement, transport and the end-to-end path, not speed.
/// </summary>
[Collection(MultiHostCollection.Name)]
[Trait("Category", MultiHostCollection.Category)]
public class MultiHostTrainingTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(5);

    [NetnsFact]
    public void TwoHostsTrainOverTcpWithTheCoordinatorOnTheBridge()
    {
        using var cluster = NetnsCluster.Up(2);
        using var temp = TestFiles.CreateTempDirectory();
        var runDir = Path.Combine(temp.Path, "run");

        // 1536 samples / 2 ranks / micro-batch 32 = 24 steps, one line each.
        var run = MultiHostLaunch.Run(cluster, 2, cluster.Hostfile, Train(runDir, "train_subset=1536", "micro_batch=32", "checkpoint_every=12"), s_timeout);

        Assert.True(run.Result.ExitCode == 0, run.Result.Describe());
        Assert.Equal(cluster.Hosts, run.RankHosts.Order());
        Assert.Contains($"{cluster.Hosts[0]}-{cluster.Hosts[1]}", run.HostLinks);
        var summary = Summary(runDir);
        Assert.Equal(2, summary.GetProperty("world_size").GetInt32());
        Assert.Equal(24, summary.GetProperty("steps").GetInt64());
        Verify(Path.Combine(runDir, "checkpoints"), "step 24, 2 shards");
    }

    [NetnsFact]
    public void ThreeHostsTrainAndTheJobResumesOnTwo()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();
        var runDir = Path.Combine(temp.Path, "run");

        // Global batch 96 both times: 3 × 32, then 2 × 48. 960 samples make 10 steps per epoch either way.
        var first = MultiHostLaunch.Run(cluster, 3, cluster.Hostfile,
            Train(runDir, "train_subset=960", "micro_batch=32", "max_steps=6", "checkpoint_every=6"), s_timeout);
        Assert.True(first.Result.ExitCode == 0, first.Result.Describe());
        Assert.Equal(cluster.Hosts, first.RankHosts.Order());
        Assert.NotEmpty(first.HostLinks);
        Assert.Equal(3, Summary(runDir).GetProperty("world_size").GetInt32());

        var resumed = MultiHostLaunch.Run(cluster, 2, cluster.HostfileOf(2, temp.Path), Train(runDir, "train_subset=960", "micro_batch=48", "checkpoint_every=10"), s_timeout);
        Assert.True(resumed.Result.ExitCode == 0, resumed.Result.Describe());
        var line = Assert.Single(resumed.Result.StdoutLines, l => l.StartsWith("resumed from "));
        Assert.Contains("step-0000000006 at step 6", line);
        Assert.Equal(cluster.Hosts.Take(2), resumed.RankHosts.Order());
        var summary = Summary(runDir);
        Assert.Equal(2, summary.GetProperty("world_size").GetInt32());
        Assert.Equal(10, summary.GetProperty("steps").GetInt64());
        Assert.Equal(96, summary.GetProperty("global_batch").GetInt64());
        Verify(Path.Combine(runDir, "checkpoints"), "step 10, 2 shards");
    }

    [NetnsFact]
    public void AJobThatFailsOnOneOfThreeHostsRestartsOnTheOtherTwoWithTheSameGlobalBatch()
    {
        using var cluster = NetnsCluster.Up(3);
        using var temp = TestFiles.CreateTempDirectory();
        var runDir = Path.Combine(temp.Path, "run");

        // Global batch 96: 3 ranks × 16 × accumulation 2, then 2 × 16 × 3. 960 samples make 10 steps per epoch either way.
        // Rank 2 (the third host) throws before step 6; its report names its host, which the restart leaves out.
        var run = MultiHostLaunch.Run(cluster, 3, cluster.Hostfile,
            Train(runDir, "train_subset=960", "micro_batch=16", "accumulation=2", "checkpoint_every=4", "async_checkpoint=false"), s_timeout,
            ["--max-restarts", "1", "--min-ranks", "2", "--job-id", "elastic"], new Dictionary<string, string> { ["ADAN_TEST_FAULT"] = "2:6:throw" });

        Assert.True(run.Result.ExitCode == 0, run.Result.Describe());
        Assert.Matches($@"adan launch: job elastic failed .*: rank 2 \({cluster.Hosts[2]} pid \d+\) failed: .*injected fault", run.Result.Stderr);
        Assert.Contains($"adan launch: restart 1 of 1: job elastic-restart1 resumes from the last committed checkpoint on 2 rank(s) without {cluster.Hosts[2]}, "
            + "accumulation 3 (global batch 96)", run.Result.Stderr);
        var line = Assert.Single(run.Result.StdoutLines, l => l.StartsWith("resumed from "));
        Assert.Contains("step-0000000004 at step 4", line);
        var summary = Summary(runDir);
        Assert.Equal(2, summary.GetProperty("world_size").GetInt32());
        Assert.Equal(10, summary.GetProperty("steps").GetInt64());
        Assert.Equal(96, summary.GetProperty("global_batch").GetInt64());
        Assert.Equal(1, summary.GetProperty("restarts").GetInt32());
        Verify(Path.Combine(runDir, "checkpoints"), "step 10, 2 shards");
    }

    /// <summary><c>adan train</c> of a tiny MLP for one epoch, a progress line per step, with <paramref name="settings"/>.</summary>
    private static string[] Train(string runDir, params string[] settings) =>
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "test_subset=200", "--set", "epochs=1", "--set", "log_every=1",
        "--set", "resume=latest", "--set", $"run_dir={runDir}", .. settings.SelectMany(s => new[] { "--set", s }),
    ];

    private static JsonElement Summary(string runDir) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement;

    private static void Verify(string checkpoints, string expected)
    {
        var verify = AdanCli.Run(["checkpoint", "verify", checkpoints], TimeSpan.FromMinutes(1));
        Assert.True(verify.ExitCode == 0, verify.Describe());
        Assert.Contains(expected, verify.Stdout);
    }
}
