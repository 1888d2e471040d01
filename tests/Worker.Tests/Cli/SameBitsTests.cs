using System.Security.Cryptography;
using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// Same run, same bits: identical <c>adan launch -n 2 -- train</c> runs (a coordinator, checkpoints in mid-run,
/// evaluations) on a machine the test keeps busy write byte-identical checkpoints at every step they save, whether the
/// saves are asynchronous or not; and every step computes on one thread with the configured torch threads, even after
/// the awaits of the coordinator link and the checkpoint commits (which complete on other threads).
/// </summary>
/// <remarks>
/// "Same bits" means the same binary, CPU kind, configuration and world size. Before the trainer owned its thread,
/// steps after an await ran on thread-pool threads with OpenMP's all-cores default, and on an Intel Xeon two such runs
/// differed by 1 ULP in thousands of elements (about half the tries on a quiet machine, all under load).
/// </remarks>
public sealed class SameBitsTests
{
    /// <summary>16 steps on 2 ranks (512 samples, micro-batch 16), a checkpoint and an evaluation every 4, all kept.</summary>
    private static string[] Train(string runDir, int threads, bool asyncCheckpoint) =>
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=512", "--set", "test_subset=100", "--set", "epochs=1",
        "--set", "micro_batch=16", "--set", "checkpoint_every=4", "--set", "eval_every=4", "--set", "keep_last=10", "--set", "resume=none",
        "--set", $"threads={threads}", "--set", $"async_checkpoint={(asyncCheckpoint ? "true" : "false")}", "--set", $"run_dir={runDir}",
    ];

    /// <summary>Every checkpoint file but the manifest (which records times), as "step-N/file" → SHA-256.</summary>
    private static SortedDictionary<string, string> CheckpointHashes(string runDir)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var step in Directory.GetDirectories(Path.Combine(runDir, "checkpoints"), "step-*"))
        {
            foreach (var file in Directory.GetFiles(step).Where(f => Path.GetFileName(f) != "manifest.json"))
            {
                hashes[$"{Path.GetFileName(step)}/{Path.GetFileName(file)}"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            }
        }
        return hashes;
    }

    private static JsonElement ComputeThreads(string runDir) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement.GetProperty("compute_threads");

    private static string Launch(string root, string name, int threads, bool asyncCheckpoint)
    {
        var runDir = Path.Combine(root, name);
        var result = AdanCli.Run(["launch", "-n", "2", "--", .. Train(runDir, threads, asyncCheckpoint)], TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.Describe());
        return runDir;
    }

    [Fact]
    public void EveryStepComputesOnOneThreadWithTheConfiguredThreadCount()
    {
        // Three threads per rank is neither OpenMP's default (the cores) nor the trainer's (cores over ranks) on any
        // machine of fewer than three cores, and on larger ones it still differs from the all-cores default.
        using var root = TestFiles.CreateTempDirectory();
        var runDir = Launch(root.Path, "threads", threads: 3, asyncCheckpoint: true);

        var threads = ComputeThreads(runDir);
        Assert.Equal(3, threads.GetProperty("configured").GetInt32());
        Assert.Equal(3, threads.GetProperty("step_min").GetInt32());
        Assert.Equal(3, threads.GetProperty("step_max").GetInt32());
        Assert.Equal(1, threads.GetProperty("step_threads_max").GetInt32());
        // A thread nobody bound starts from the process default set before libtorch loaded.
        Assert.True(threads.GetProperty("defaults_applied").GetBoolean(), threads.ToString());
        Assert.Equal(3, threads.GetProperty("unbound_min").GetInt32());
        Assert.Equal(3, threads.GetProperty("unbound_max").GetInt32());
    }

    [Fact]
    public void RepeatedRunsOnABusyMachineWriteIdenticalCheckpoints()
    {
        using var root = TestFiles.CreateTempDirectory();
        var runs = new List<string>();
        // One spinning process is enough to make the two ranks contend for the cores on a 2-core machine, and spares the
        // rest of the suite, which runs beside this test and is load enough of its own, a second one. Three runs: async
        // saves twice, sync once.
        using (new BusyMachine(processes: Math.Max(1, Environment.ProcessorCount / 2)))
        {
            for (var i = 0; i < 3; i++)
            {
                runs.Add(Launch(root.Path, $"run{i}", threads: 1, asyncCheckpoint: i % 2 == 0));
            }
        }

        var expected = CheckpointHashes(runs[0]);
        // Steps 4, 8, 12 and 16, each with both ranks' shards.
        Assert.Equal(8, expected.Keys.Count(k => k.Contains("/shard-", StringComparison.Ordinal)));
        for (var i = 1; i < runs.Count; i++)
        {
            var actual = CheckpointHashes(runs[i]);
            var differing = expected.Keys.Union(actual.Keys).Where(k => expected.GetValueOrDefault(k) != actual.GetValueOrDefault(k)).ToList();
            Assert.True(differing.Count == 0, $"run {i} ({(i % 2 == 0 ? "async" : "sync")} saves) differs from run 0 in {string.Join(", ", differing)}");
        }
        foreach (var run in runs)
        {
            var threads = ComputeThreads(run);
            Assert.Equal(1, threads.GetProperty("step_min").GetInt32());
            Assert.Equal(1, threads.GetProperty("step_max").GetInt32());
            Assert.Equal(1, threads.GetProperty("step_threads_max").GetInt32());
        }
    }
}
