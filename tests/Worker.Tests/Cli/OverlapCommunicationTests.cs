using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan launch -n 2 -- train</c> with the gradient reduction overlapped with backward (the default) and with
/// <c>overlap_communication=false</c>: on two ranks the sums do not depend on their order, so the runs must end with
/// the same checkpoint bytes and loss, and both report the exposed and the busy communication time.
/// </summary>
public class OverlapCommunicationTests
{
    [Theory]
    [InlineData("mlp", 1)]
    [InlineData("resnet", 2)]
    public void OverlappedAndBlockingReductionTrainTheSameModel(string model, int stage)
    {
        using var temp = TestFiles.CreateTempDirectory();
        string[] job =
        [
            "launch", "-n", "2", "--", "train", "--set", $"model={model}", "--set", "train_subset=256", "--set", "test_subset=64",
            "--set", "micro_batch=16", "--set", "accumulation=2", "--set", "max_steps=4", "--set", "checkpoint_every=4",
            "--set", $"zero_stage={stage}", "--set", "bucket_mib=1", "--set", "threads=1",
        ];
        var overlapped = AdanCli.Run([.. job, "--set", $"run_dir={Path.Combine(temp.Path, "on")}"], TimeSpan.FromMinutes(4));
        Assert.True(overlapped.ExitCode == 0, overlapped.Describe());
        var blocking = AdanCli.Run([.. job, "--set", "overlap_communication=false", "--set", $"run_dir={Path.Combine(temp.Path, "off")}"],
            TimeSpan.FromMinutes(4));
        Assert.True(blocking.ExitCode == 0, blocking.Describe());

        var on = Summary(Path.Combine(temp.Path, "on"));
        var off = Summary(Path.Combine(temp.Path, "off"));
        Assert.True(on.GetProperty("final_loss").GetDouble() == off.GetProperty("final_loss").GetDouble(), "overlap changed training");
        Assert.Equal(Shards(temp.Path, "off"), Shards(temp.Path, "on"));
        foreach (var summary in new[] { on, off })
        {
            Assert.True(summary.GetProperty("communication_busy_seconds").GetDouble() > 0);
            Assert.InRange(summary.GetProperty("communication_share").GetDouble(), 0, 1);
        }
    }

    private static string[] Shards(string root, string run)
    {
        var checkpoints = Path.Combine(root, run, "checkpoints");
        var last = Directory.GetDirectories(checkpoints, "step-*").Max()!;
        return
        [
            .. JsonDocument.Parse(File.ReadAllText(Path.Combine(last, "manifest.json"))).RootElement
                .GetProperty("shards").EnumerateArray().Select(e => e.GetProperty("sha256").GetString()!),
        ];
    }

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement.Clone();
}
