using System.Security.Cryptography;
using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan launch --max-restarts</c> as a user runs it: a job whose rank is SIGKILLed once after a checkpoint is
/// restarted from that checkpoint and ends bit for bit where an uninterrupted run ends; no restart without the flag,
/// after a usage error or past the count.
/// </summary>
public sealed class ElasticRestartTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-elastic-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>32 steps on 2 ranks (512 samples, micro_batch 16, 2 epochs), a checkpoint every 8.</summary>
    private static string[] Train(string runDir, string optimizer = "adan") =>
    [
        "train", "--set", $"optimizer={optimizer}", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=512", "--set", "test_subset=100", "--set", "epochs=2",
        "--set", "micro_batch=16", "--set", "checkpoint_every=8", "--set", "resume=none", "--set", $"run_dir={runDir}",
    ];

    private static Dictionary<string, string> KillRank1AtStep(int step) => new() { ["ADAN_TEST_FAULT"] = $"1:{step}:kill" };

    private static Dictionary<string, string> ShardHashes(string runDir)
    {
        var last = Directory.GetDirectories(Path.Combine(runDir, "checkpoints"), "step-*").Order(StringComparer.Ordinal).Last();
        return Directory.GetFiles(last, "shard-*")
            .ToDictionary(f => Path.GetFileName(f), f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))));
    }

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement;

    /// <summary>
    /// Every optimizer checkpoints its own state, so every one restarts where it left off. Through the CLI: Adan (four
    /// state buffers) and SGD (one momentum buffer); every rule's bitwise resume and reshard is pinned in the engine's
    /// own tests (CheckpointResumeTests.EveryOptimizerResumesBitIdenticalAndReshards), and LAMB trains, checkpoints and
    /// resumes through launch in LambTrainTests, so two more 2-rank launch trios here add suite time and no path.
    /// </summary>
    [Theory]
    [InlineData("adan")]
    [InlineData("sgd")]
    public void ARankKilledOnceIsRestartedFromTheLastCheckpointAndEndsBitwiseLikeAnUninterruptedRun(string optimizer)
    {
        var uninterrupted = Path.Combine(_root, "uninterrupted");
        var expected = AdanCli.Run(["launch", "-n", "2", "--", .. Train(uninterrupted, optimizer)], TimeSpan.FromMinutes(3));
        Assert.True(expected.ExitCode == 0, expected.Describe());

        var restarted = Path.Combine(_root, "restarted");
        var result = AdanCli.Run(["launch", "-n", "2", "--max-restarts", "1", "--job-id", "elastic", "--", .. Train(restarted, optimizer)],
            TimeSpan.FromMinutes(3), KillRank1AtStep(20));

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("adan launch: job elastic failed", result.Stderr);
        Assert.Contains("adan launch: restart 1 of 1: job elastic-restart1 resumes from the last committed checkpoint on 2 rank(s)", result.Stderr);
        Assert.Single(result.StdoutLines, l => l.StartsWith("resumed from ", StringComparison.Ordinal));
        var summary = Summary(restarted);
        Assert.Equal(1, summary.GetProperty("restarts").GetInt32());
        Assert.Equal(0, Summary(uninterrupted).GetProperty("restarts").GetInt32());
        Assert.Equal(32, summary.GetProperty("steps").GetInt64());
        Assert.Equal(optimizer, summary.GetProperty("optimizer").GetString());
        var hashes = ShardHashes(restarted);
        Assert.Equal(2, hashes.Count);
        Assert.Equal(ShardHashes(uninterrupted), hashes);
    }

    /// <summary>
    /// A program started by <c>adan launch --program</c> (here adan itself, which reads its options as any application
    /// of the trainer library does) gets the restart's <c>resume=latest</c> through <c>ADAN_SET</c>, applied after its
    /// own <c>--set resume=none</c>: its command line is its own, so the launcher appends nothing to it.
    /// </summary>
    [Fact]
    public void AProgramIsRestartedFromItsLastCheckpointThroughTheOverridesVariable()
    {
        var runDir = Path.Combine(_root, "program");
        var result = AdanCli.Run(["launch", "-n", "2", "--max-restarts", "1", "--job-id", "program", "--program", AdanCli.Executable, "--", .. Train(runDir)],
            TimeSpan.FromMinutes(3), KillRank1AtStep(20));

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("adan launch: restart 1 of 1: job program-restart1 resumes from the last committed checkpoint on 2 rank(s)", result.Stderr);
        Assert.Single(result.StdoutLines, l => l.StartsWith("resumed from ", StringComparison.Ordinal));
        var summary = Summary(runDir);
        Assert.Equal(1, summary.GetProperty("restarts").GetInt32());
        Assert.Equal(32, summary.GetProperty("steps").GetInt64());
        Assert.Equal(2, summary.GetProperty("world_size").GetInt32());
    }

    [Theory]
    [InlineData(new[] { "--program", "/nonexistent/own-model", "--", "--set", "max_steps=1" }, "--program /nonexistent/own-model: no such file")]
    [InlineData(new string[0], "nothing to launch: give the adan command after --")]
    public void BadProgramOptionsAreOneLineUsageErrors(string[] options, string message)
    {
        var result = AdanCli.Run(["launch", "-n", "2", .. options], TimeSpan.FromMinutes(1));

        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(message, line);
    }

    [Fact]
    public void WithoutMaxRestartsAFailedJobFailsAsBefore()
    {
        var runDir = Path.Combine(_root, "once");
        var result = AdanCli.Run(["launch", "-n", "2", "--", .. Train(runDir)], TimeSpan.FromMinutes(3), KillRank1AtStep(4));

        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.DoesNotContain("restart", result.Stderr);
        Assert.False(File.Exists(Path.Combine(runDir, "summary.json")));
    }

    [Fact]
    public void AUsageErrorIsNeverRestarted()
    {
        var result = AdanCli.Run(["launch", "-n", "2", "--max-restarts", "3", "--", .. Train(Path.Combine(_root, "usage")), "--set", "micro_batch=0"],
            TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 2, result.Describe());
        Assert.DoesNotContain("restart 1", result.Stderr);
    }

    [Theory]
    [InlineData(new[] { "--max-restarts", "-1" }, "--max-restarts -1: expected an integer in [0, 1000]")]
    [InlineData(new[] { "--min-ranks", "1" }, "--min-ranks needs --hostfile")]
    public void BadRestartOptionsAreOneLineUsageErrors(string[] options, string message)
    {
        var result = AdanCli.Run(["launch", "-n", "2", .. options, "--", "train", "--set", "model=mlp"], TimeSpan.FromMinutes(1));

        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(message, line);
    }
}
