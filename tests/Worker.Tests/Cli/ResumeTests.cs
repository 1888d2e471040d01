using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// A 2-rank run that checkpoints is killed (the whole launcher process tree, as a node failure or a
/// cancelled allocation would), then resumed with <c>--set resume=latest</c>: it must finish exactly
/// as the uninterrupted run (same final loss and test metrics, bit for bit).
/// </summary>
public class ResumeTests
{
    /// <summary>512 samples, 2 ranks × micro-batch 16: 16 steps an epoch, 32 in all; the victim is killed after step 20's checkpoint, in epoch 2.</summary>
    private static readonly string[] s_job =
    [
        "launch", "-n", "2", "--", "train", "--set", "model=mlp", "--set", "train_subset=512", "--set", "test_subset=200",
        "--set", "epochs=2", "--set", "micro_batch=16", "--set", "log_every=1", "--set", "checkpoint_every=10", "--set", "resume=latest",
    ];

    [Fact]
    public void AKilledRunResumesFromTheLatestCheckpointAndFinishesLikeAnUninterruptedOne()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var root = temp.Path;
        var uninterrupted = AdanCli.Run([.. s_job, "--set", $"run_dir={Path.Combine(root, "a")}"]);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Describe());

        var runDir = Path.Combine(root, "b");
        using (var victim = AdanCli.Start([.. s_job, "--set", $"run_dir={runDir}"]))
        {
            string? line;
            while ((line = victim.StandardOutput.ReadLine()) is not null && !line.StartsWith("checkpoint step 20:"))
            {
            }
            Assert.NotNull(line);
            victim.Kill(entireProcessTree: true);
            victim.WaitForExit();
        }
        Assert.False(File.Exists(Path.Combine(runDir, "summary.json")), "the killed run must not have finished");

        var resumed = AdanCli.Run([.. s_job, "--set", $"run_dir={runDir}"]);
        Assert.True(resumed.ExitCode == 0, resumed.Describe());
        var resumedLine = Assert.Single(resumed.StdoutLines, l => l.StartsWith("resumed from "));
        Assert.Contains(Path.Combine(runDir, "checkpoints", "step-"), resumedLine);

        var expected = Summary(Path.Combine(root, "a"));
        var actual = Summary(runDir);
        foreach (var key in new[] { "final_loss", "test_accuracy", "test_loss" })
        {
            Assert.True(expected.GetProperty(key).GetDouble() == actual.GetProperty(key).GetDouble(),
                $"{key}: resumed {actual.GetProperty(key).GetDouble():R}, uninterrupted {expected.GetProperty(key).GetDouble():R}");
        }
        Assert.Equal(expected.GetProperty("steps").GetInt64(), actual.GetProperty("steps").GetInt64());
        Assert.StartsWith(Path.Combine(runDir, "checkpoints"), actual.GetProperty("resumed_from").GetString());
        // Every step after the resume point logs the same loss as the uninterrupted run.
        var before = uninterrupted.StdoutLines.Where(l => l.StartsWith("epoch ")).Select(l => l[..l.IndexOf(" lr ")]).ToHashSet();
        var after = resumed.StdoutLines.Where(l => l.StartsWith("epoch ")).Select(l => l[..l.IndexOf(" lr ")]).ToList();
        Assert.NotEmpty(after);
        Assert.All(after, l => Assert.Contains(l, before));
    }

    [Fact]
    public void ResumingFromAnOlderCheckpointIntoARootWithNewerOnesIsRefusedAtStart()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var root = temp.Path;
        string[] job =
        [
            "train", "--set", "model=mlp", "--set", "train_subset=256", "--set", "test_subset=64", "--set", "micro_batch=16",
            "--set", "max_steps=10", "--set", "checkpoint_every=5", "--set", $"run_dir={root}",
        ];
        var first = AdanCli.Run([.. job, "--set", "resume=none"]);
        Assert.True(first.ExitCode == 0, first.Describe());
        var step5 = Path.Combine(root, "checkpoints", "step-0000000005");

        var rollback = AdanCli.Run([.. job, "--set", $"resume={step5}"]);
        Assert.True(rollback.ExitCode != 0, rollback.Describe());
        Assert.Contains("step 10", rollback.Stderr);
        Assert.Contains("checkpoint_dir", rollback.Stderr);
        Assert.True(File.Exists(Path.Combine(root, "checkpoints", "step-0000000010", "manifest.json")), "the newer checkpoint must be kept");

        var elsewhere = AdanCli.Run([.. job, "--set", $"resume={step5}", "--set", $"checkpoint_dir={Path.Combine(root, "rollback")}"]);
        Assert.True(elsewhere.ExitCode == 0, elsewhere.Describe());
        Assert.Contains(elsewhere.StdoutLines, l => l.StartsWith($"resumed from {step5} at step 5"));
        Assert.True(File.Exists(Path.Combine(root, "rollback", "step-0000000010", "manifest.json")));
    }

    [Fact]
    public void ASecondJobOnAHeldCheckpointDirectoryIsRefusedNamingTheHolder()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var checkpoints = Path.Combine(temp.Path, "checkpoints");
        using var holder = Adan.Sharded.Checkpoints.CheckpointRootLock.Acquire(checkpoints, "first-job");

        var second = AdanCli.Run(["train", "--set", "model=mlp", "--set", "train_subset=64", "--set", "test_subset=16", "--set", "micro_batch=16",
            "--set", "max_steps=2", "--set", "checkpoint_every=1", "--set", $"run_dir={temp.Path}"]);

        Assert.True(second.ExitCode == 1, second.Describe());
        Assert.Contains($"{checkpoints} is in use by job first-job on host {Environment.MachineName}", second.Stderr);
        Assert.Single(second.Stderr.Trim().Split('\n'));
        Assert.Empty(Adan.Sharded.Checkpoints.CheckpointFiles.StepDirectories(checkpoints));
    }

    [Fact]
    public void ResumingWithAnotherGlobalBatchContinuesTheEpochWithoutSkippingSamples()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var root = temp.Path;
        string[] job =
        [
            "train", "--set", "model=mlp", "--set", "train_subset=512", "--set", "test_subset=64", "--set", "epochs=1",
            "--set", "checkpoint_every=10", "--set", "resume=latest", "--set", $"run_dir={root}",
        ];
        // 512 samples in batches of 32: 16 steps per epoch; stopped and saved after 10 (320 samples).
        var first = AdanCli.Run([.. job, "--set", "micro_batch=32", "--set", "max_steps=10"]);
        Assert.True(first.ExitCode == 0, first.Describe());

        // Batches of 48 (as a third rank would make them): 10 per epoch; 320 samples = 6 whole batches + 32 seen again.
        // Another global batch is a hyper-parameter change: refused unless allowed.
        var refused = AdanCli.Run([.. job, "--set", "micro_batch=48"]);
        Assert.True(refused.ExitCode == 1, refused.Describe());
        Assert.Contains("global_batch 32 -> 48", refused.Stderr);
        var resumed = AdanCli.Run([.. job, "--set", "micro_batch=48", "--set", "allow_hparam_change=true"]);
        Assert.True(resumed.ExitCode == 0, resumed.Describe());
        var line = Assert.Single(resumed.StdoutLines, l => l.StartsWith("resumed from "));
        Assert.Contains("global batch of 32, this run has 48", line);
        Assert.Contains("epoch 1 continues at sample 288 of the 320 used (32 seen again) as batch 6", line);
        var summary = Summary(root);
        Assert.Equal(14, summary.GetProperty("steps").GetInt64());
        Assert.Equal(1, summary.GetProperty("checkpoints_saved").GetInt32());
        Assert.True(summary.GetProperty("checkpoint_seconds").GetDouble() > 0);
        Assert.True(File.Exists(Path.Combine(root, "checkpoints", "step-0000000014", "manifest.json")));
    }

    [Fact]
    public void KeepLastHoldsUnderLaunchAcrossRuns()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var root = temp.Path;
        string[] job =
        [
            "launch", "-n", "2", "--", "train", "--set", "model=mlp", "--set", "train_subset=512", "--set", "test_subset=64",
            "--set", "micro_batch=16", "--set", "checkpoint_every=4", "--set", "keep_last=1", "--set", "resume=latest", "--set", $"run_dir={root}",
        ];
        var checkpoints = Path.Combine(root, "checkpoints");
        var first = AdanCli.Run([.. job, "--set", "max_steps=4"]);
        Assert.True(first.ExitCode == 0, first.Describe());
        Assert.Equal(["step-0000000004"], Directory.GetDirectories(checkpoints).Select(Path.GetFileName).Order());

        // A new launch (a new coordinator, which never saw step 4) still counts it.
        var second = AdanCli.Run([.. job, "--set", "max_steps=8"]);
        Assert.True(second.ExitCode == 0, second.Describe());
        Assert.Equal(["step-0000000008"], Directory.GetDirectories(checkpoints).Select(Path.GetFileName).Order());
    }

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement.Clone();
}
