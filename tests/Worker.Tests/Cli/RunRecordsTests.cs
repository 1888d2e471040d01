using System.Text.Json;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// The run records as a user's tools find them after <c>adan train</c>: <c>metrics.jsonl</c> with a step record per
/// logged step and an eval record per evaluation, kept through a SIGKILL and a restart with each step once,
/// <c>resolved-config.json</c> that binds back to the run's config, and the program's version and commit in
/// <c>summary.json</c>.
/// </summary>
public sealed class RunRecordsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-records-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>16 steps (256 samples, micro_batch 16), a step record every 4, an evaluation every 8 and at the end.</summary>
    private static string[] Train(string runDir) =>
        [.. AdanCli.TinyTrain, "--set", "micro_batch=16", "--set", "log_every=4", "--set", "eval_every=8", "--set", "checkpoint_every=0", "--set", $"run_dir={runDir}"];

    [Fact]
    public void ATrainingRunRecordsItsStepsEvaluationsConfigAndBuild()
    {
        var runDir = Path.Combine(_root, "run");
        var arguments = Train(runDir);
        var result = AdanCli.Run(arguments, TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Describe());

        var metrics = Path.Combine(runDir, MetricsLog.FileName);
        var steps = MetricsLog.ReadSteps(metrics);
        Assert.Equal([4L, 8, 12, 16], steps.Select(s => s.Step));
        Assert.All(steps, s => Assert.Equal(16, s.TotalSteps));
        Assert.Equal(steps.Select(s => s.Step * 16), steps.Select(s => s.SamplesSeen));
        Assert.All(steps, s => Assert.True(double.IsFinite(s.Loss) && s.Lr > 0 && s.GradNorm > 0 && s.SamplesPerSecond > 0, $"{s}"));
        var evaluations = MetricsLog.ReadEvaluations(metrics);
        Assert.Equal([8L, 16], evaluations.Select(e => e.Step));
        Assert.All(evaluations, e => Assert.True(e.Accuracy is >= 0 and <= 1 && e.Loss > 0 && e.Perplexity is null, $"{e}"));
        var lines = File.ReadAllLines(metrics);
        Assert.Equal(6, lines.Length);
        Assert.All(lines, line => Assert.Contains(JsonDocument.Parse(line).RootElement.GetProperty("kind").GetString(), new[] { "step", "eval" }));

        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, RunSummaryWriter.FileName))).RootElement;
        Assert.Equal(BuildInfo.Version, summary.GetProperty("version").GetString());
        Assert.Equal(BuildInfo.GitCommit, summary.GetProperty("git_commit").GetString());
        Assert.NotNull(BuildInfo.Version);
        Assert.Equal(evaluations[^1].Accuracy, summary.GetProperty("test_accuracy").GetDouble());

        var resolved = ConfigBinder.Load(Path.Combine(runDir, "resolved-config.json"), null);
        var given = ConfigBinder.Load(null, arguments.Where((_, i) => i > 1 && arguments[i - 1] == "--set"));
        Assert.Equal(ConfigBinder.Describe(given), ConfigBinder.Describe(resolved));
        Assert.Equal(given with { Sections = resolved.Sections }, resolved);
    }

    [Fact]
    public void ARankKilledMidRunKeepsItsRecordsAndTheRestartRecordsEachStepOnce()
    {
        var runDir = Path.Combine(_root, "restarted");
        // 32 steps on 2 ranks, a checkpoint every 8, a step record every step; rank 1 is killed before step 20.
        string[] train =
        [
            "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=512", "--set", "test_subset=100", "--set", "epochs=2",
            "--set", "micro_batch=16", "--set", "checkpoint_every=8", "--set", "log_every=1", "--set", "eval_every=8", "--set", "resume=none",
            "--set", $"run_dir={runDir}",
        ];
        var result = AdanCli.Run(["launch", "-n", "2", "--max-restarts", "1", "--", .. train], TimeSpan.FromMinutes(3),
            new Dictionary<string, string> { ["ADAN_TEST_FAULT"] = "1:20:kill" });

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Single(result.StdoutLines, l => l.StartsWith("resumed from ", StringComparison.Ordinal));
        var metrics = Path.Combine(runDir, MetricsLog.FileName);
        Assert.Equal(Enumerable.Range(1, 32).Select(s => (long)s), MetricsLog.ReadSteps(metrics).Select(s => s.Step));
        Assert.Equal([8L, 16, 24, 32], MetricsLog.ReadEvaluations(metrics).Select(e => e.Step));
        Assert.All(File.ReadAllLines(metrics), line => JsonDocument.Parse(line));
    }
}
