using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan train --set dataset=tokens</c> trains the GPT on a memory-mapped token file end to end, and a run stopped
/// at a checkpoint and resumed finishes exactly (bit for bit) as the uninterrupted run.
/// </summary>
public class TokenTrainingTests
{
    [Fact]
    public void ATokenFileTrainsTheGptAndAResumedRunMatchesTheUninterruptedOne()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var tokens = Path.Combine(temp.Path, "train.bin");
        // A learnable sequence of 6001 ids below 61: 187 windows of 32 (168 train, 19 validate).
        File.WriteAllBytes(tokens, Enumerable.Range(0, 6001).SelectMany(i => BitConverter.GetBytes((ushort)((i * 7 + i / 11) % 61))).ToArray());
        string[] job =
        [
            "train", "--set", "model=gpt", "--set", "dataset=tokens", "--set", $"token_file={tokens}", "--set", "vocab_size=64",
            "--set", "gpt_context=32", "--set", "gpt_layers=1", "--set", "gpt_embedding=32", "--set", "micro_batch=8",
            "--set", "epochs=1", "--set", "checkpoint_every=5", "--set", "resume=latest",
        ];
        var uninterrupted = AdanCli.Run([.. job, "--set", $"run_dir={Path.Combine(temp.Path, "a")}"]);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Describe());
        var expected = Summary(Path.Combine(temp.Path, "a"));
        Assert.Equal(21, expected.GetProperty("steps").GetInt64());
        Assert.True(expected.GetProperty("test_loss").GetDouble() < Math.Log(64), "training must lower the loss below chance");

        var runDir = Path.Combine(temp.Path, "b");
        var stopped = AdanCli.Run([.. job, "--set", $"run_dir={runDir}", "--set", "max_steps=10"]);
        Assert.True(stopped.ExitCode == 0, stopped.Describe());
        var resumed = AdanCli.Run([.. job, "--set", $"run_dir={runDir}"]);
        Assert.True(resumed.ExitCode == 0, resumed.Describe());
        Assert.Single(resumed.StdoutLines, l => l.StartsWith("resumed from "));
        var actual = Summary(runDir);
        foreach (var key in new[] { "final_loss", "test_loss" })
        {
            Assert.True(expected.GetProperty(key).GetDouble() == actual.GetProperty(key).GetDouble(),
                $"{key}: resumed {actual.GetProperty(key).GetDouble():R}, uninterrupted {expected.GetProperty(key).GetDouble():R}");
        }
    }

    [Fact]
    public void AnOddSizedTokenFileIsRefusedInOneLine()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var tokens = Path.Combine(temp.Path, "odd.bin");
        File.WriteAllBytes(tokens, [1, 2, 3]);
        var result = AdanCli.Run(["train", "--set", "model=gpt", "--set", "dataset=tokens", "--set", $"token_file={tokens}", "--set", "vocab_size=64",
            "--set", $"run_dir={temp.Path}"]);
        Assert.True(result.ExitCode != 0, result.Describe());
        Assert.Equal($"adan train: Token file '{tokens}' has 3 bytes, not a whole number of 2-byte uint16 tokens; check token_dtype (uint16 | uint32) or the file.",
            result.Stderr.Trim());
    }

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement.Clone();
}
