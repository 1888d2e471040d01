using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Tests.Checkpoints.Fuzz;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>Format version 3 is written; versions 1 and 2 (Adan's fixed fields) still read, as version 3's fields; anything else is refused by its number.</summary>
public sealed class ManifestFormatVersionTests : IDisposable
{
    private readonly string _directory = SmallCheckpoint.ScratchDirectory("adan-format-");

    [Fact]
    public void VersionThreeIsWrittenWithTheOptimizersOwnDescription()
    {
        SmallCheckpoint.Write(_directory);
        var json = JsonNode.Parse(File.ReadAllText(ManifestPath))!;

        Assert.Equal(3, json["format_version"]!.GetValue<int>());
        var optimizer = json["optimizer"]!;
        Assert.Equal("adan", optimizer["name"]!.GetValue<string>());
        Assert.Equal(0.01, optimizer["groups"]![0]!["options"]!["lr"]!.GetValue<double>());
        Assert.Equal("[4,0]", optimizer["parameter_steps"]!.ToJsonString());
        Assert.Equal("exp_avg_diff", optimizer["state"]![2]!["name"]!.GetValue<string>());
        Assert.Null(optimizer["has_previous_gradient"]);
        Assert.True(CheckpointVerifier.Verify(_directory).Ok);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void OlderVersionsStillReadAsVersionThreesFields(int version)
    {
        SmallCheckpoint.Write(_directory);
        File.WriteAllText(ManifestPath, SmallCheckpoint.AsLegacy(File.ReadAllText(ManifestPath), version));

        Assert.True(CheckpointVerifier.Verify(_directory).Ok);
        var manifest = CheckpointManifest.Read(_directory);
        Assert.Equal(version, manifest.FormatVersion);
        var group = Assert.Single(manifest.Optimizer.Groups);
        Assert.Equal(0.01, group.LearningRate);
        Assert.Equal("[0.02,0.08,0.01]", group.Options!["betas"]!.ToJsonString());
        Assert.Equal(0.02, group.Options["weight_decay"]!.GetValue<double>());
        Assert.Equal([4L, 0L], manifest.Optimizer.ParameterSteps!);
        Assert.Equal(CheckpointManifest.ShardTensorNames.Skip(1), manifest.Optimizer.State!.Select(t => t.Name));
    }

    [Fact]
    public void AnOlderVersionHoldsOnlyAdan()
    {
        SmallCheckpoint.Write(_directory);
        File.WriteAllText(ManifestPath, SmallCheckpoint.AsLegacy(File.ReadAllText(ManifestPath), 2).Replace("\"adan\"", "\"lamb\"", StringComparison.Ordinal));

        var error = Assert.Throws<CheckpointException>(() => CheckpointManifest.Read(_directory));

        Assert.Contains("format 2 holds only adan", error.Message);
    }

    [Theory]
    [InlineData("\"format_version\": 4", "format version 4 is not supported; this build reads versions 1 to 3")]
    [InlineData("\"format_version\": 0", "format version 0 is not supported")]
    public void AnUnknownVersionIsRefusedByItsNumber(string version, string expected)
    {
        SmallCheckpoint.Write(_directory);
        Rewrite("\"format_version\": 3", version);

        var error = Assert.Throws<CheckpointException>(() => CheckpointVerifier.Verify(_directory));

        Assert.Contains(ManifestPath, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void ModuleBuffersNeedVersionTwo()
    {
        SmallCheckpoint.Write(_directory);
        var manifest = CheckpointManifest.Parse(SmallCheckpoint.AsLegacy(File.ReadAllText(ManifestPath), 1), "m") with
        {
            ModuleBuffers = new CheckpointFileEntry(CheckpointFiles.ModuleBuffersFileName, 64, new string('a', 64)),
        };

        var error = Assert.Throws<CheckpointException>(() => CheckpointManifestRules.Check(manifest, "m", requireShards: true));

        Assert.Contains("module_buffers needs format version 2", error.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string ManifestPath => Path.Combine(_directory, CheckpointManifest.FileName);

    private void Rewrite(string from, string to) => File.WriteAllText(ManifestPath, File.ReadAllText(ManifestPath).Replace(from, to, StringComparison.Ordinal));
}
