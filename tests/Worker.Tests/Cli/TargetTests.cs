using System.Text.Json;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// Steps-to-target from the command line: <c>val_split</c> holds samples out of training and periodic evaluations
/// score them (<c>metrics.jsonl</c> records with <c>split</c>), <c>eval_every_samples</c> sets a cadence in samples,
/// <c>target</c> records when validation first reached it (interpolated) or that it never did (censored), and
/// <c>stop_at_target</c> ends the run cleanly there, with its test evaluation and summary.
/// </summary>
public sealed class TargetTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-target-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string[] Train(string runDir, params string[] more) =>
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=2048", "--set", "val_split=1000", "--set", "test_subset=200",
        "--set", "epochs=3", "--set", "micro_batch=64", "--set", "checkpoint_every=0", "--set", "resume=none", "--set", $"run_dir={runDir}",
        "--set", "eval_every_samples=512", .. more.SelectMany(m => new[] { "--set", m }),
    ];

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, RunSummaryWriter.FileName))).RootElement;

    [Fact]
    public void StopAtTargetEndsAtTheFirstValidationThatReachesItAndInterpolatesTheCrossing()
    {
        var runDir = Path.Combine(_root, "stop");
        var result = AdanCli.Run(Train(runDir, "target=val_accuracy=0.6", "stop_at_target=true"), TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Describe());

        var evaluations = MetricsLog.ReadEvaluations(Path.Combine(runDir, MetricsLog.FileName));
        var validation = evaluations.Where(e => e.Split == EvalMetrics.ValidationSplit).ToList();
        // Every 512 samples = every 8 steps of 64; the last validation reached 0.6, the one before had not.
        Assert.All(validation, e => Assert.Equal(0, e.SamplesSeen % 512));
        Assert.True(validation[^1].Accuracy >= 0.6 && validation[^2].Accuracy < 0.6, string.Join(", ", validation.Select(e => e.Accuracy)));
        var test = Assert.Single(evaluations, e => e.Split == EvalMetrics.TestSplit);
        Assert.Equal(validation[^1].Step, test.Step);

        var summary = Summary(runDir);
        Assert.Equal(validation[^1].Step, summary.GetProperty("steps").GetInt64());
        Assert.True(summary.GetProperty("steps").GetInt64() < 3 * 2048 / 64, "the run stopped before its cap");
        var target = summary.GetProperty("target");
        Assert.True(target.GetProperty("reached").GetBoolean() && !target.GetProperty("censored").GetBoolean() && target.GetProperty("stopped_at_target").GetBoolean());
        var (before, after) = (validation[^2], validation[^1]);
        var expected = before.Step + (0.6 - before.Accuracy!.Value) / (after.Accuracy!.Value - before.Accuracy.Value) * (after.Step - before.Step);
        Assert.Equal(expected, target.GetProperty("step").GetDouble(), 1e-9);
        Assert.Equal(expected * 64, target.GetProperty("samples").GetDouble(), 1e-6);
        Assert.Equal(after.Accuracy.Value, summary.GetProperty("val_accuracy").GetDouble(), 1e-12);
        Assert.Contains(result.StdoutLines, l => l.StartsWith($"eval step {after.Step}: val accuracy ", StringComparison.Ordinal));
    }

    [Fact]
    public void AnUnreachedTargetIsCensoredAndTheRunGoesToItsCap()
    {
        var runDir = Path.Combine(_root, "censored");
        var result = AdanCli.Run(Train(runDir, "target=val_loss=0.01", "stop_at_target=true", "epochs=1"), TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Describe());
        var summary = Summary(runDir);
        Assert.Equal(32, summary.GetProperty("steps").GetInt64());
        var target = summary.GetProperty("target");
        Assert.False(target.GetProperty("reached").GetBoolean());
        Assert.True(target.GetProperty("censored").GetBoolean());
        Assert.False(target.GetProperty("stopped_at_target").GetBoolean());
        // The last evaluation (the final validation at step 32) bounds it from below.
        Assert.Equal(32, target.GetProperty("step").GetDouble());
    }

    [Theory]
    [InlineData("target=val_accuracy=0.9", "val_split=0", "a target is judged on validation")]
    [InlineData("target=val_accuracy=0.9", "eval_every_samples=0", "set eval_every_samples")]
    [InlineData("target=accuracy=0.9", "val_split=100", "unknown metric 'accuracy'")]
    [InlineData("target=val_accuracy=90", "val_split=100", "accuracy is a fraction")]
    [InlineData("stop_at_target=true", "val_split=100", "stop_at_target without target")]
    [InlineData("eval_every=5", "eval_every_samples=640", "set one cadence")]
    [InlineData("val_split=60000", "train_subset=0", "val_split: 60000")]
    public void BadTargetSettingsAreOneLineAndExitCodeTwo(string setting, string other, string named)
    {
        var result = AdanCli.Run(["train", "--set", "model=mlp", "--set", "run_dir=" + Path.Combine(_root, "bad"), "--set", "eval_every_samples=512",
            "--set", "val_split=100", "--set", setting, "--set", other], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.Describe());
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(named, lines[0]);
    }
}
