using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan bench checkpoint</c> as <c>make bench</c> runs it, on one process and a few MiB: it saves, loads and times
/// against the plain baselines, writes its JSON record, and leaves no scratch files. The numbers themselves are
/// checked by the benchmark, never by a test.
/// </summary>
public class CheckpointBenchTests
{
    [Fact]
    public void TheCheckpointBenchWritesItsRecordAndCleansUp()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var scratch = temp.Path;
        var json = Path.Combine(scratch, "checkpoint.json");
        var result = AdanCli.Run(["bench", "checkpoint", "--mib", "4", "--repeats", "2", "--dir", scratch, "--json", json], TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Describe());
        var record = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal(1, record.GetProperty("world_size").GetInt32());
        Assert.InRange(record.GetProperty("bytes_total").GetInt64(), 4L << 20, (4L << 20) + 4096);
        foreach (var key in new[] { "plain_write_fsync_gbps", "save_gbps", "save_vs_plain_write", "plain_read_cold_gbps", "load_gbps", "load_vs_plain_write", "load_vs_plain_read" })
        {
            Assert.True(record.GetProperty(key).GetDouble() > 0, $"{key} should be positive:\n{result.Describe()}");
        }
        Assert.Equal(2, record.GetProperty("save_seconds").GetArrayLength());
        Assert.False(Directory.Exists(Path.Combine(scratch, "adan-bench-checkpoint")), "the bench must delete its scratch checkpoints");
    }

    [Fact]
    public void ABadSizeIsOneClearLineAndExitCodeTwo()
    {
        var result = AdanCli.Run(["bench", "checkpoint", "--mib", "0"], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.Describe());
        Assert.Contains("--mib", result.Stderr);
    }
}
