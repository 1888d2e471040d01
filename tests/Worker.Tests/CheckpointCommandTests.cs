using System.Diagnostics;
using System.Text.Json;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Sampling;
using Adan.Sharded.Zero;
using TorchSharp;

namespace Adan.Worker.Tests;

/// <summary><c>adan checkpoint verify/inspect/export</c> run as a user runs them, on a checkpoint saved in this process.</summary>
public sealed class CheckpointCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-cli-ckpt-").FullName;

    public CheckpointCommandTests()
    {
        using var collective = new SingleProcessCollective();
        torch.manual_seed(2);
        using var model = torch.nn.Sequential(("fc", torch.nn.Linear(7, 3)));
        using var flat = FlatParameters.FromModule(model, 1);
        using var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions());
        var progress = new TrainingProgress(3, new SamplerPosition(1, 2), new Dictionary<string, long> { ["torch"] = 2 });
        ShardedCheckpoint.SaveAsync(new LocalCheckpointCatalog(_root), adan, collective, 3, progress).GetAwaiter().GetResult();
    }

    private string CheckpointDir => CheckpointFiles.StepDirectory(_root, 3);

    [Fact]
    public async Task VerifyExitsZeroForAValidCheckpointAndAcceptsTheRoot()
    {
        var (code, stdout, stderr) = await Run($"checkpoint verify {CheckpointDir}");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("ok: step 3", stdout);
        (code, _, stderr) = await Run($"checkpoint verify {_root}");
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public async Task VerifyExitsNonZeroAndNamesTheDamagedShard()
    {
        var shard = Path.Combine(CheckpointDir, CheckpointFiles.ShardFileName(0, 1));
        var bytes = await File.ReadAllBytesAsync(shard);
        bytes[^5] ^= 0x01;
        await File.WriteAllBytesAsync(shard, bytes);
        var (code, _, stderr) = await Run($"checkpoint verify {CheckpointDir}");
        Assert.Equal(1, code);
        Assert.Contains(shard, stderr);
        Assert.Contains("sha256", stderr);
        (code, var stdout, _) = await Run($"checkpoint inspect {CheckpointDir}");
        Assert.Equal(1, code);
        Assert.Contains("BAD", stdout);
    }

    [Fact]
    public async Task VerifyExitsNonZeroWithoutACommittedCheckpoint()
    {
        File.Delete(Path.Combine(CheckpointDir, CheckpointManifest.FileName));
        var (code, _, stderr) = await Run($"checkpoint verify {_root}");
        Assert.Equal(1, code);
        Assert.Contains("no committed", stderr);
    }

    [Theory]
    [InlineData("\"world_size\": 1", "\"world_size\": 0", "world_size is 0")]
    [InlineData("\"format_version\": 3", "\"format_version\": 99", "format version 99 is not supported")]
    [InlineData("shard-00000-of-00001.safetensors", "../../outside.safetensors", "shard-NNNNN-of-NNNNN")]
    [InlineData("\"offset\": 0", "\"offset\": 40", "ends past total_numel")]
    public async Task VerifyAndExportRefuseAnInvalidManifestWithExitOne(string field, string tampered, string expected)
    {
        var manifestPath = Path.Combine(CheckpointDir, CheckpointManifest.FileName);
        var json = await File.ReadAllTextAsync(manifestPath);
        Assert.Contains(field, json);
        await File.WriteAllTextAsync(manifestPath, json.Replace(field, tampered, StringComparison.Ordinal));

        foreach (var command in new[] { $"checkpoint verify {CheckpointDir}", $"checkpoint export {CheckpointDir} --out {Path.Combine(_root, "m.safetensors")}" })
        {
            var (code, stdout, stderr) = await Run(command);
            Assert.True(code == 1, $"{command}: exit {code}, {stdout}");
            Assert.True(stderr.Contains(manifestPath, StringComparison.Ordinal) && stderr.Contains(expected, StringComparison.Ordinal), stderr);
            Assert.Single(stderr.Trim().Split('\n'));
        }
        Assert.False(File.Exists(Path.Combine(_root, "m.safetensors")));
    }

    [Fact]
    public async Task AShardThatLinksOutsideTheCheckpointIsNotRead()
    {
        var shard = Path.Combine(CheckpointDir, CheckpointFiles.ShardFileName(0, 1));
        var elsewhere = Path.Combine(_root, "elsewhere.safetensors");
        File.Move(shard, elsewhere);
        File.CreateSymbolicLink(shard, elsewhere);

        var (code, _, stderr) = await Run($"checkpoint verify {CheckpointDir}");

        Assert.Equal(1, code);
        Assert.Contains("outside the checkpoint directory", stderr);
    }

    [Fact]
    public async Task InspectPrintsATableAndJson()
    {
        var (code, stdout, stderr) = await Run($"checkpoint inspect {_root}");
        Assert.True(code == 0, stderr);
        Assert.Contains("step        3", stdout);
        Assert.Contains("world size  1", stdout);
        Assert.Contains("shard-00000-of-00001.safetensors", stdout);
        (code, stdout, stderr) = await Run($"checkpoint inspect {CheckpointDir} --json");
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(3, json.GetProperty("step").GetInt64());
        Assert.Equal(1, json.GetProperty("world_size").GetInt32());
        Assert.Equal(24, json.GetProperty("parameters").GetInt64());
        Assert.True(json.GetProperty("valid").GetBoolean());
        Assert.Equal(2, json.GetProperty("sampler").GetProperty("batch").GetInt64());
    }

    [Fact]
    public async Task ExportWritesTheWeightsUnderTheirNames()
    {
        var output = Path.Combine(_root, "model.safetensors");
        var (code, _, stderr) = await Run($"checkpoint export {_root} --out {output}");
        Assert.True(code == 0, stderr);
        using var file = SafetensorsFile.Open(output);
        Assert.Equal([3, 7], file.Tensor("fc.weight").Shape);
        Assert.Equal([3], file.Tensor("fc.bias").Shape);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static async Task<(int Code, string Stdout, string Stderr)> Run(string arguments)
    {
        var info = new ProcessStartInfo(Cli.AdanCli.Executable, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        return (process.ExitCode, await stdout, await stderr);
    }
}
