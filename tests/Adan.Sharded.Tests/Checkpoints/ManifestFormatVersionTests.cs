using Adan.Sharded.Checkpoints;
using Adan.Sharded.Tests.Checkpoints.Fuzz;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>Format version 2 is written; version 1 checkpoints still read; anything else is refused by its number.</summary>
public sealed class ManifestFormatVersionTests : IDisposable
{
    private readonly string _directory = SmallCheckpoint.ScratchDirectory("adan-format-");

    [Fact]
    public void VersionTwoIsWrittenAndVersionOneStillReads()
    {
        SmallCheckpoint.Write(_directory);
        Assert.Contains("\"format_version\": 2", File.ReadAllText(ManifestPath));

        Rewrite("\"format_version\": 2", "\"format_version\": 1");

        Assert.True(CheckpointVerifier.Verify(_directory).Ok);
        Assert.Equal(1, CheckpointManifest.Read(_directory).FormatVersion);
    }

    [Theory]
    [InlineData("\"format_version\": 3", "format version 3 is not supported; this build reads versions 1 to 2")]
    [InlineData("\"format_version\": 0", "format version 0 is not supported")]
    public void AnUnknownVersionIsRefusedByItsNumber(string version, string expected)
    {
        SmallCheckpoint.Write(_directory);
        Rewrite("\"format_version\": 2", version);

        var error = Assert.Throws<CheckpointException>(() => CheckpointVerifier.Verify(_directory));

        Assert.Contains(ManifestPath, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void ModuleBuffersNeedVersionTwo()
    {
        var manifest = SmallCheckpoint.Write(_directory) with
        {
            FormatVersion = 1,
            ModuleBuffers = new CheckpointFileEntry(CheckpointFiles.ModuleBuffersFileName, 64, new string('a', 64)),
        };

        var error = Assert.Throws<CheckpointException>(() => CheckpointManifestRules.Check(manifest, "m", requireShards: true));

        Assert.Contains("module_buffers needs format version 2", error.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string ManifestPath => Path.Combine(_directory, CheckpointManifest.FileName);

    private void Rewrite(string from, string to) => File.WriteAllText(ManifestPath, File.ReadAllText(ManifestPath).Replace(from, to, StringComparison.Ordinal));
}
