using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Adan.Worker.Tests.Cli;

/// <summary><c>adan train --set optimizer=lamb</c> end to end, on one rank and through <c>adan launch -n 2</c>.</summary>
public class LambTrainTests
{
    // LAMB's step is lr·‖w‖ per layer, so it takes a larger lr than Adan's default to move in 32 steps; the rest is the
    // lamb section's defaults, timm's: betas [0.9, 0.999], eps 1e-6, weight_decay 0.01, max_grad_norm 1.
    private static readonly string[] s_lamb =
    [
        "--set", "model=mlp", "--set", "train_subset=512", "--set", "test_subset=200", "--set", "epochs=1",
        "--set", "micro_batch=16", "--set", "log_every=4", "--set", "resume=none", "--set", "checkpoint_every=0",
        "--set", "optimizer=lamb", "--set", "lamb.lr=0.02",
    ];

    [Fact]
    public void OneRankTrainsWithLamb()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-lamb-").FullName;
        try
        {
            var result = AdanCli.Run(["train", .. s_lamb, "--set", $"run_dir={runDir}"]);
            Assert.True(result.ExitCode == 0, result.Describe());
            AssertLambRun(result, runDir, worldSize: 1, steps: 32);
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public void TwoRanksTrainWithLambThroughLaunch()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-lamb-launch-").FullName;
        try
        {
            var result = AdanCli.Run(["launch", "-n", "2", "--", "train", .. s_lamb, "--set", $"run_dir={runDir}"]);
            Assert.True(result.ExitCode == 0, result.Describe());
            AssertLambRun(result, runDir, worldSize: 2, steps: 16);
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public void LambWithNoDecayGroupsCheckpointsBothGroupsAndResumesWithoutAChange()
    {
        using var temp = TestFiles.CreateTempDirectory();
        string[] train = ["train", .. s_lamb, "--set", "no_decay_bias_norm=true", "--set", "checkpoint_every=8", "--set", "resume=latest",
            "--set", $"run_dir={temp.Path}"];
        var first = AdanCli.Run([.. train, "--set", "max_steps=8"]);
        Assert.True(first.ExitCode == 0, first.Describe());

        // The MLP's hidden.weight, hidden.bias, output.weight, output.bias: the biases without weight decay, first.
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(temp.Path, "checkpoints", "step-0000000008", "manifest.json")));
        var optimizer = manifest.RootElement.GetProperty("optimizer");
        Assert.Equal("lamb", optimizer.GetProperty("name").GetString());
        var groups = optimizer.GetProperty("groups").EnumerateArray().ToArray();
        Assert.Equal([[1, 3], [0, 2]], groups.Select(g => g.GetProperty("parameters").EnumerateArray().Select(p => p.GetInt32()).ToArray()));
        Assert.Equal([0, 0.01], groups.Select(g => g.GetProperty("options").GetProperty("weight_decay").GetDouble()));
        Assert.All(groups, g => Assert.Equal(1e-6, g.GetProperty("options").GetProperty("eps").GetDouble()));

        var second = AdanCli.Run([.. train, "--set", "max_steps=16"]);
        Assert.True(second.ExitCode == 0, second.Describe());
        Assert.Contains(second.StdoutLines, l => l.StartsWith("resumed from ", StringComparison.Ordinal));
        Assert.DoesNotContain("differ", second.Stdout);
    }

    // The loss of the last progress line is below that of the first, and summary.json names the optimizer.
    private static void AssertLambRun(CliResult result, string runDir, int worldSize, long steps)
    {
        var losses = result.StdoutLines
            .Select(l => Regex.Match(l, @"^epoch \d+ step \d+/\d+ loss (\d+\.\d+)"))
            .Where(m => m.Success)
            .Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .ToArray();
        Assert.True(losses.Length >= 2, $"expected at least two progress lines:\n{result.Describe()}");
        Assert.True(losses[^1] < losses[0], $"the loss did not decrease: {string.Join(", ", losses)}");
        var summary = TrainCommandTests.AssertSummary(result.StdoutLines, runDir, worldSize, steps, optimizer: "lamb");
        Assert.Equal(0, summary.GetProperty("skipped_steps").GetInt64());
    }
}
