using System.Text.Json;
using System.Text.RegularExpressions;

namespace Adan.Worker.Tests.Cli;

/// <summary><c>adan train</c> and <c>adan launch</c> end to end, as a user runs them, on a small Fashion-MNIST subset.</summary>
public class TrainCommandTests
{
    private static readonly string[] s_small =
    [
        "--set", "model=mlp", "--set", "train_subset=512", "--set", "test_subset=200", "--set", "epochs=1",
        "--set", "micro_batch=16", "--set", "log_every=4", "--set", "resume=none", "--set", "checkpoint_every=0",
    ];

    [Theory]
    [InlineData("adan.lr=-1", "adan.lr")]
    [InlineData("lr=0.01", "use adan.lr")]
    [InlineData("adan.beta1=0.9", "the adan section takes lr, betas,")]
    [InlineData("optimizer=adamax", "optimizer")]
    [InlineData("no_such_key=1", "no_such_key")]
    [InlineData("zero_stage=3", "zero_stage")]
    public void ABadConfigValueIsOneClearLineAndExitCodeTwo(string setting, string named)
    {
        var result = AdanCli.Run(["train", "--set", setting], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.Describe());
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("adan train: ", lines[0]);
        Assert.Contains(named, lines[0]);
    }

    [Fact]
    public void AMissingDatasetNamesTheDebianPackage()
    {
        var result = AdanCli.Run(["train", "--set", "data_dir=/nonexistent/fashion", .. s_small], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.Contains("dataset-fashion-mnist", result.Stderr);
    }

    [Fact]
    public void ASingleProcessRunPrintsPlainProgressAndWritesTheSummary()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-train-").FullName;
        try
        {
            var result = AdanCli.Run(["train", .. s_small, "--set", $"run_dir={runDir}"]);
            Assert.True(result.ExitCode == 0, result.Describe());
            var lines = result.StdoutLines;
            var progress = lines.Where(l => l.StartsWith("epoch ")).ToArray();
            Assert.Equal(8, progress.Length);
            Assert.All(progress, l => Assert.Matches(new Regex(@"^epoch 1 step \d+/32 loss \d+\.\d{4} lr [0-9.e+-]+ samples/s \d+ eta \d\d:\d\d:\d\d$"), l));
            Assert.Contains(lines, l => l.StartsWith("eval step 32: test accuracy "));
            AssertSummary(lines, runDir, worldSize: 1, steps: 32);
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public void ATwoRankLaunchTrainsAndSummarises()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-launch-").FullName;
        try
        {
            var result = AdanCli.Run(["launch", "-n", "2", "--", "train", .. s_small, "--set", $"run_dir={runDir}"]);
            Assert.True(result.ExitCode == 0, result.Describe());
            AssertSummary(result.StdoutLines, runDir, worldSize: 2, steps: 16);
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    internal static JsonElement AssertSummary(string[] lines, string runDir, int worldSize, long steps, string optimizer = "adan")
    {
        var last = lines[^1];
        Assert.StartsWith("summary: ", last);
        var path = last["summary: ".Length..];
        Assert.Equal(Path.Combine(runDir, "summary.json"), path);
        var summary = JsonDocument.Parse(File.ReadAllText(path)).RootElement.Clone();
        Assert.Equal(worldSize, summary.GetProperty("world_size").GetInt32());
        Assert.Equal(steps, summary.GetProperty("steps").GetInt64());
        Assert.Equal(1.0, summary.GetProperty("epochs").GetDouble(), 3);
        var loss = summary.GetProperty("final_loss").GetDouble();
        Assert.InRange(loss, 0.01, 2.5);
        Assert.InRange(summary.GetProperty("test_accuracy").GetDouble(), 0.3, 1.0);
        Assert.True(summary.GetProperty("samples_per_second").GetDouble() > 0);
        Assert.InRange(summary.GetProperty("wall_seconds").GetDouble(), 0.1, 300);
        Assert.Equal(optimizer, summary.GetProperty("optimizer").GetString());
        Assert.Equal(1, summary.GetProperty("zero_stage").GetInt32());
        Assert.True(summary.TryGetProperty("checkpoint_dir", out _));
        return summary;
    }
}
