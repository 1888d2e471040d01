using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// Preemption as a scheduler does it: SIGUSR1 to <c>adan launch</c> or SIGTERM to one rank makes every rank stop after
/// the same step, commit a checkpoint of it and exit 75, and the resumed run ends bit for bit where an uninterrupted one
/// ends; a second SIGTERM, or <c>--preempt-grace</c> running out, stops at once. The step is pinned by
/// <c>ADAN_TEST_FAULT=RANK:STEP:signal</c> (the rank waits before STEP until the signal reaches it), never by timing.
/// </summary>
public sealed class PreemptionTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-preempt-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>32 steps on 2 ranks (512 samples, micro_batch 16, 2 epochs), every step printed.</summary>
    private static string[] Train(string runDir, int checkpointEvery) =>
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=512", "--set", "test_subset=100", "--set", "epochs=2",
        "--set", "micro_batch=16", "--set", "log_every=1", "--set", $"checkpoint_every={checkpointEvery}", "--set", "resume=none", "--set", $"run_dir={runDir}",
    ];

    private static Dictionary<string, string> Fault(int rank, int step, string kind) => new() { ["ADAN_TEST_FAULT"] = $"{rank}:{step}:{kind}" };

    private static string[] StepDirectories(string runDir) =>
        Directory.Exists(Path.Combine(runDir, "checkpoints"))
            ? [.. Directory.GetDirectories(Path.Combine(runDir, "checkpoints"), "step-*").Select(Path.GetFileName).Order(StringComparer.Ordinal)!]
            : [];

    private static Dictionary<string, string> ShardHashes(string runDir)
    {
        var last = Path.Combine(runDir, "checkpoints", StepDirectories(runDir)[^1]);
        return Directory.GetFiles(last, "shard-*").ToDictionary(f => Path.GetFileName(f), f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))));
    }

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement;

    /// <summary>Reads the launcher's stdout until rank 0 prints step <paramref name="step"/>.</summary>
    private static async Task WaitForStepAsync(Process launcher, int step)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        string? line;
        while ((line = await launcher.StandardOutput.ReadLineAsync(limit.Token)) is not null && !line.Contains($" step {step}/", StringComparison.Ordinal))
        {
        }
        Assert.NotNull(line);
    }

    private static async Task<(string Stdout, string Stderr)> WaitForExitAsync(Process launcher, Task<string> stdout, Task<string> stderr)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await launcher.WaitForExitAsync(limit.Token);
        return (await stdout, await stderr);
    }

    /// <summary>The committed preemption checkpoint: <c>adan checkpoint verify</c> passes, with one shard per rank.</summary>
    private static void AssertCommitted(string runDir, int step)
    {
        var directory = Path.Combine(runDir, "checkpoints", $"step-{step:D10}");
        var verify = AdanCli.Run(["checkpoint", "verify", directory], TimeSpan.FromSeconds(60));
        Assert.True(verify.ExitCode == 0, verify.Describe());
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "manifest.json")));
        Assert.Equal(step, manifest.RootElement.GetProperty("step").GetInt64());
        Assert.Equal([0, 1], manifest.RootElement.GetProperty("shards").EnumerateArray().Select(s => s.GetProperty("rank").GetInt32()));
        var preempted = Summary(runDir).GetProperty("preempted");
        Assert.Equal(step, preempted.GetProperty("step").GetInt64());
        Assert.Equal(directory, preempted.GetProperty("checkpoint").GetString());
        Assert.Equal("resume=latest", preempted.GetProperty("resume").GetString());
    }

    [Fact]
    public async Task SigusrToTheLauncherSavesEveryRankAtOneStepAndTheResumeEndsBitwiseLikeAnUninterruptedRun()
    {
        var uninterrupted = Path.Combine(_root, "uninterrupted");
        var expected = AdanCli.Run(["launch", "-n", "2", "--", .. Train(uninterrupted, checkpointEvery: 8)], TimeSpan.FromMinutes(2));
        Assert.True(expected.ExitCode == 0, expected.Describe());

        var preempted = Path.Combine(_root, "preempted");
        using var launcher = AdanCli.Start(["launch", "-n", "2", "--", .. Train(preempted, checkpointEvery: 8)], Fault(0, 12, "signal"));
        var stderr = launcher.StandardError.ReadToEndAsync();
        await WaitForStepAsync(launcher, 12);
        ProcessTable.Signal(launcher.Id, "USR1");
        var (_, errors) = await WaitForExitAsync(launcher, launcher.StandardOutput.ReadToEndAsync(), stderr);

        Assert.True(launcher.ExitCode == 75, $"exit code {launcher.ExitCode}\n{errors}");
        Assert.Matches(@"adan launch: job \S+ preempted: checkpoint of step 13 committed at \S+step-0000000013; resume with the same command and --set resume=latest", errors);
        AssertCommitted(preempted, 13);
        Assert.Equal(["step-0000000008", "step-0000000013"], StepDirectories(preempted));

        var resumed = AdanCli.Run(["launch", "-n", "2", "--", .. Train(preempted, checkpointEvery: 8), "--set", "resume=latest"], TimeSpan.FromMinutes(2));
        Assert.True(resumed.ExitCode == 0, resumed.Describe());
        Assert.Contains("step-0000000013", Assert.Single(resumed.StdoutLines, l => l.StartsWith("resumed from ", StringComparison.Ordinal)));
        Assert.Equal(ShardHashes(uninterrupted), ShardHashes(preempted));
        var (want, got) = (Summary(uninterrupted).GetProperty("final_loss").GetDouble(), Summary(preempted).GetProperty("final_loss").GetDouble());
        Assert.True(BitConverter.DoubleToInt64Bits(want) == BitConverter.DoubleToInt64Bits(got), $"final loss: resumed {got:R}, uninterrupted {want:R}");
        Assert.False(Summary(preempted).TryGetProperty("preempted", out var stale) && stale.ValueKind != JsonValueKind.Null);
    }

    [Fact]
    public async Task SigtermToOneRankStopsEveryRankAfterTheSameStepEvenWithoutCheckpointEvery()
    {
        var runDir = Path.Combine(_root, "rank");
        using var launcher = AdanCli.Start(["launch", "-n", "2", "--", .. Train(runDir, checkpointEvery: 0)], Fault(1, 12, "signal"));
        var stderr = launcher.StandardError.ReadToEndAsync();
        await WaitForStepAsync(launcher, 12);
        var rank1 = ProcessTable.Ranks(launcher.Id).Single(pid => File.ReadAllText($"/proc/{pid}/environ").Split('\0').Contains("PMI_RANK=1"));
        ProcessTable.Signal(rank1, "TERM");
        var (_, errors) = await WaitForExitAsync(launcher, launcher.StandardOutput.ReadToEndAsync(), stderr);

        Assert.True(launcher.ExitCode == 75, $"exit code {launcher.ExitCode}\n{errors}");
        Assert.Contains("preempted: checkpoint of step 13 committed at", errors);
        AssertCommitted(runDir, 13);
        Assert.Equal(["step-0000000013"], StepDirectories(runDir));
    }

    [Theory]
    [InlineData("a second SIGTERM", "--preempt-grace", "600", "stopped by SIGTERM")]
    [InlineData("--preempt-grace running out", "--preempt-grace", "1", "did not commit its checkpoint within --preempt-grace 1 s")]
    public async Task APreemptionThatCannotFinishFallsBackToTheImmediateStop(string why, string flag, string seconds, string message)
    {
        var runDir = Path.Combine(_root, "stuck");
        // Rank 1 hangs before step 12, so no save can ever be made: only the fallback ends the job.
        using var launcher = AdanCli.Start(["launch", "-n", "2", "--grace-period", "2", flag, seconds, "--", .. Train(runDir, checkpointEvery: 0)],
            Fault(1, 12, "hang"));
        await WaitForStepAsync(launcher, 12);
        var stdout = launcher.StandardOutput.ReadToEndAsync();
        var job = ProcessTable.Descendants(launcher.Id);
        ProcessTable.Signal(launcher.Id, "TERM");
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.Contains("save a checkpoint after their next step", await launcher.StandardError.ReadLineAsync(limit.Token));
        if (why.StartsWith("a second", StringComparison.Ordinal))
        {
            ProcessTable.Signal(launcher.Id, "TERM");
        }
        var (_, errors) = await WaitForExitAsync(launcher, stdout, launcher.StandardError.ReadToEndAsync());

        Assert.True(launcher.ExitCode == 143, $"{why}: exit code {launcher.ExitCode}\n{errors}");
        Assert.Contains(message, errors);
        Assert.Empty(StepDirectories(runDir));
        Assert.Empty(job.Where(ProcessTable.IsRunning).Select(pid => $"{pid}: {string.Join(' ', ProcessTable.Arguments(pid))}"));
    }
}
