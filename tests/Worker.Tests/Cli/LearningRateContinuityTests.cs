using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// A run resumed at another world size, accumulation or (allowed) global batch trains its first step at the learning
/// rate the uninterrupted run had after the same number of samples. Every run checkpoints after every step, and each
/// manifest records the learning rate of the step just taken and the samples seen after it, so the two runs are
/// compared on what they recorded, to the last bit.
/// </summary>
public sealed class LearningRateContinuityTests : IClassFixture<LearningRateContinuityTests.Uninterrupted>
{
    // 240 samples in global batches of 12: 20 steps per epoch, 2 epochs = the schedule's 40 steps (480 samples),
    // 10 steps (120 samples) of warm-up, then cosine. The uninterrupted run stops after 18 steps: max_steps does not
    // change the schedule.
    private static readonly string[] s_train =
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=16", "--set", "train_subset=240", "--set", "test_subset=48", "--set", "epochs=2",
        "--set", "warmup_steps=10", "--set", "schedule=cosine", "--set", "min_lr=0.0001", "--set", "checkpoint_every=1", "--set", "keep_last=1000",
        "--set", "log_every=1", "--set", "adan.lr=0.002",
    ];

    private readonly Uninterrupted _original;

    public LearningRateContinuityTests(Uninterrupted original)
    {
        _original = original;
    }

    [Fact]
    public void TwoRanksResumedOnThreeContinueTheWarmUp()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var resumed = Resume(temp.Path, from: 7, ["launch", "-n", "3", "--", .. s_train, "--set", "micro_batch=4", "--set", "max_steps=9"]);
        Assert.Contains("learning rate: continues at sample 84 of the schedule's 480 (warm-up 120), lr 0.0016", resumed.Stdout);
        // Same global batch: every resumed step matches, not only the first.
        AssertContinues(temp.Path, firstStep: 8, lastStep: 9, globalBatch: 12);
    }

    [Fact]
    public void TwoRanksResumedOnOneWithAccumulationContinueTheCosine()
    {
        using var temp = TestFiles.CreateTempDirectory();
        Resume(temp.Path, from: 15, [.. s_train, "--set", "micro_batch=6", "--set", "accumulation=2", "--set", "max_steps=17"]);
        AssertContinues(temp.Path, firstStep: 16, lastStep: 17, globalBatch: 12);
    }

    [Fact]
    public void AnotherGlobalBatchIsRefusedUnlessAllowedAndThenKeepsTheCurveInSamples()
    {
        using var temp = TestFiles.CreateTempDirectory();
        string[] larger = ["launch", "-n", "2", "--", .. s_train, "--set", "micro_batch=9", "--set", "adan.betas=[0.9,0.92,0.99]", "--set", "max_steps=13"];
        var refused = AdanCli.Run([.. larger, "--set", $"resume={_original.Checkpoint(12)}", "--set", $"run_dir={Path.Combine(temp.Path, "refused")}"]);
        Assert.True(refused.ExitCode == 1, refused.Describe());
        Assert.Contains("hyper-parameters that differ from the checkpoint's (2):", refused.Stdout);
        Assert.Contains("  adan.betas: checkpoint [0.98,0.92,0.99], this run [0.9,0.92,0.99]", refused.Stdout);
        Assert.Contains("  global_batch: checkpoint 12, this run 18 (2 rank(s) × micro_batch 9 × accumulation 1)", refused.Stdout);
        Assert.Contains("this run changes 2 hyper-parameter(s) of the checkpoint it resumes", refused.Stderr);
        Assert.Contains("--set allow_hparam_change=true", refused.Stderr);
        Assert.False(Directory.Exists(Path.Combine(temp.Path, "refused", "checkpoints", "step-0000000013")), "a refused run must not train");

        Resume(temp.Path, from: 12, [.. larger, "--set", "allow_hparam_change=true"]);
        // Only the first step starts where one of the original steps started (sample 144); the next starts at 162.
        AssertContinues(temp.Path, firstStep: 13, lastStep: 13, globalBatch: 18);
    }

    private CliResult Resume(string runDir, long from, string[] arguments)
    {
        var result = AdanCli.Run([.. arguments, "--set", $"resume={_original.Checkpoint(from)}", "--set", $"run_dir={runDir}"]);
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains(result.StdoutLines, l => l.StartsWith($"resumed from {_original.Checkpoint(from)} at step {from}"));
        return result;
    }

    /// <summary>The resumed run's steps <paramref name="firstStep"/>..<paramref name="lastStep"/> used the uninterrupted run's learning rate at the same sample count.</summary>
    private void AssertContinues(string runDir, long firstStep, long lastStep, long globalBatch)
    {
        for (var step = firstStep; step <= lastStep; step++)
        {
            var (samplesAfter, lr) = Recorded(Path.Combine(runDir, "checkpoints"), step);
            var samplesBefore = samplesAfter - globalBatch;
            Assert.Equal(0, samplesBefore % 12);
            // The uninterrupted run's step that started at the same sample count.
            var (_, expected) = Recorded(_original.Checkpoints, samplesBefore / 12 + 1);
            Assert.True(expected == lr, $"step {step} (from sample {samplesBefore}): lr {lr:R}, the uninterrupted run had {expected:R}");
        }
    }

    /// <summary>The samples seen after <paramref name="step"/> and the learning rate of that step, as its checkpoint recorded them.</summary>
    private static (long SamplesSeen, double LearningRate) Recorded(string checkpoints, long step)
    {
        var path = Path.Combine(checkpoints, $"step-{step:D10}", "manifest.json");
        using var manifest = JsonDocument.Parse(File.ReadAllText(path));
        var root = manifest.RootElement;
        return (root.GetProperty("extra").GetProperty("samples_seen").GetInt64(),
            root.GetProperty("optimizer").GetProperty("groups")[0].GetProperty("options").GetProperty("lr").GetDouble());
    }

    /// <summary>The uninterrupted run: 2 ranks × micro-batch 6, a checkpoint after each of its 18 steps.</summary>
    public sealed class Uninterrupted : IDisposable
    {
        private readonly TestFiles.TempDirectory _directory = TestFiles.CreateTempDirectory();

        public Uninterrupted()
        {
            var result = AdanCli.Run(["launch", "-n", "2", "--", .. s_train, "--set", "micro_batch=6", "--set", "max_steps=18",
                "--set", $"run_dir={_directory.Path}"]);
            Assert.True(result.ExitCode == 0, result.Describe());
            for (var step = 1L; step <= 18; step++)
            {
                Assert.Equal(step * 12, Recorded(Checkpoints, step).SamplesSeen);
            }
        }

        public string Checkpoints => Path.Combine(_directory.Path, "checkpoints");

        public string Checkpoint(long step) => Path.Combine(Checkpoints, $"step-{step:D10}");

        public void Dispose() => _directory.Dispose();
    }
}
