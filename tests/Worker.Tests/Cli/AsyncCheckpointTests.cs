using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// The same run saved in the background (the default) and with <c>async_checkpoint=false</c>: the same training, the
/// same checkpoint bytes, the last save committed before the summary either way; only the background run reports
/// staging memory.
/// </summary>
public class AsyncCheckpointTests
{
    [Fact]
    public void BackgroundAndSynchronousSavesWriteTheSameCheckpointsAndTheSyncPathIsUnchanged()
    {
        using var temp = TestFiles.CreateTempDirectory();
        string[] job =
        [
            "train", "--set", "model=mlp", "--set", "train_subset=256", "--set", "test_subset=64", "--set", "micro_batch=16",
            "--set", "max_steps=12", "--set", "checkpoint_every=5",
        ];
        var background = AdanCli.Run([.. job, "--set", $"run_dir={Path.Combine(temp.Path, "async")}"]);
        Assert.True(background.ExitCode == 0, background.Describe());
        var synchronous = AdanCli.Run([.. job, "--set", "async_checkpoint=false", "--set", $"run_dir={Path.Combine(temp.Path, "sync")}"]);
        Assert.True(synchronous.ExitCode == 0, synchronous.Describe());

        Assert.Single(background.StdoutLines, l => l.StartsWith("checkpoint staging: "));
        Assert.DoesNotContain(synchronous.StdoutLines, l => l.StartsWith("checkpoint staging: "));
        foreach (var step in new[] { 5, 10, 12 })
        {
            Assert.Single(background.StdoutLines, l => l.StartsWith($"checkpoint step {step}: "));
            Assert.Single(synchronous.StdoutLines, l => l.StartsWith($"checkpoint step {step}: "));
            Assert.Equal(Shards(temp.Path, "sync", step), Shards(temp.Path, "async", step));
        }
        // The last save is committed before the final checkpoint line and the summary.
        Assert.EndsWith("step-0000000012", background.StdoutLines.Single(l => l.StartsWith("checkpoint: ")));

        var a = Summary(Path.Combine(temp.Path, "async"));
        var s = Summary(Path.Combine(temp.Path, "sync"));
        Assert.True(a.GetProperty("final_loss").GetDouble() == s.GetProperty("final_loss").GetDouble(), "background saving changed training");
        Assert.Equal(3, a.GetProperty("checkpoints_saved").GetInt32());
        Assert.Equal(3, s.GetProperty("checkpoints_saved").GetInt32());
        Assert.True(a.GetProperty("checkpoint_staging_bytes").GetInt64() > 0);
        Assert.False(s.TryGetProperty("checkpoint_staging_bytes", out var none) && none.ValueKind != JsonValueKind.Null);
        Assert.Equal(s.GetProperty("checkpoint_seconds").GetDouble(), s.GetProperty("checkpoint_pause_seconds").GetDouble());
        Assert.True(a.GetProperty("checkpoint_pause_seconds").GetDouble() <= a.GetProperty("checkpoint_seconds").GetDouble());
    }

    private static string[] Shards(string root, string run, int step) =>
    [
        .. JsonDocument.Parse(File.ReadAllText(Path.Combine(root, run, "checkpoints", $"step-{step:D10}", "manifest.json"))).RootElement
            .GetProperty("shards").EnumerateArray().Select(e => e.GetProperty("sha256").GetString()!),
    ];

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement.Clone();
}
