using System.Text.Json.Nodes;
using Adan.MultiRank;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// A damaged or foreign checkpoint is refused with a <see cref="CheckpointException"/> naming the file and what
/// differs. What is found before reading (manifest, layout, a shard's presence, size or header) leaves the model as it
/// was; a checksum mismatch is found while the shard is read into place, and loading an intact checkpoint afterwards
/// restores everything. The W = 2 checkpoint is loaded here on one process (2 → 1 resharding).
/// </summary>
public sealed class CheckpointIntegrityTests(SavedCheckpointFixture saved) : IClassFixture<SavedCheckpointFixture>
{
    private const string Shard0 = "shard-00000-of-00002.safetensors";
    private const string Shard1 = "shard-00001-of-00002.safetensors";

    [Fact]
    public void AnIntactCheckpointLoadsOnOneRankWithTheSavedParameters()
    {
        using var c = new SingleProcessCollective();
        using var model = MlpProblem.Model();
        using var flat = FlatParameters.FromModule(model, 1);
        using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options());
        var manifest = ShardedCheckpoint.Load(saved.Root, adan, c);
        Assert.Equal(SavedCheckpointFixture.Steps, manifest.Step);
        Assert.Equal(2, manifest.WorldSize);
        Assert.Equal(SavedCheckpointFixture.Steps, adan.Groups[0].Step);
        Assert.All(adan.HasHadGradient, Assert.True);
        Assert.Equal(saved.Run.Params, flat.Parameters.SelectMany(p => p.data<float>().ToArray()).ToArray());
        Assert.Equal("mlp-10-33-5", manifest.Extra["model"]!.GetValue<string>());
        Assert.True(CheckpointVerifier.Verify(saved.Root).Ok);
    }

    [Fact]
    public void AFlippedByteIsRefusedByChecksumAndAnIntactLoadAfterwardsRestoresEverything()
    {
        var dir = saved.Copy();
        try
        {
            using (var f = File.Open(Path.Combine(dir, Shard1), FileMode.Open, FileAccess.ReadWrite))
            {
                f.Position = f.Length - 100;
                var b = f.ReadByte();
                f.Position = f.Length - 100;
                f.WriteByte((byte)(b ^ 0x40));
            }
            using var c = new SingleProcessCollective();
            using var model = MlpProblem.Model();
            using var flat = FlatParameters.FromModule(model, 1);
            using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options());
            var e = Assert.Throws<CheckpointException>(() => ShardedCheckpoint.Load(dir, adan, c));
            Assert.Contains(Shard1, e.Message);
            Assert.Contains("sha256", e.Message);
            Assert.Equal(0, adan.Groups[0].Step);

            ShardedCheckpoint.Load(saved.Root, adan, c);
            Assert.Equal(saved.Run.Params, flat.Parameters.SelectMany(p => p.data<float>().ToArray()).ToArray());
            Assert.Equal(SavedCheckpointFixture.Steps, adan.Groups[0].Step);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ATruncatedShardIsRefusedBySize()
    {
        var problem = LoadDamaged(dir =>
        {
            using var f = File.Open(Path.Combine(dir, Shard0), FileMode.Open, FileAccess.ReadWrite);
            f.SetLength(f.Length / 2);
        });
        Assert.Contains(Shard0, problem);
        Assert.Contains("bytes, the manifest says", problem);
    }

    [Fact]
    public void AMissingShardIsRefused()
    {
        var problem = LoadDamaged(dir => File.Delete(Path.Combine(dir, Shard1)));
        Assert.Contains(Shard1, problem);
        Assert.Contains("missing", problem);
    }

    [Fact]
    public void AnUnknownManifestVersionIsRefused()
    {
        var problem = LoadDamaged(dir =>
        {
            var path = Path.Combine(dir, CheckpointManifest.FileName);
            var manifest = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            manifest["format_version"] = 99;
            File.WriteAllText(path, manifest.ToJsonString());
        });
        Assert.Contains(CheckpointManifest.FileName, problem);
        Assert.Contains("format version 99", problem);
    }

    [Fact]
    public void ACheckpointOfAnotherModelIsRefused()
    {
        manual_seed(3);
        using var other = nn.Sequential(("fc1", nn.Linear(10, 34)), ("act", nn.Tanh()), ("fc2", nn.Linear(34, 5)));
        var problem = LoadDamaged(_ => { }, other);
        Assert.Contains(CheckpointManifest.FileName, problem);
        Assert.Contains("does not match the model", problem);
        Assert.Contains("fc1.weight [34, 10] (model) vs fc1.weight [33, 10] (checkpoint)", problem);
    }

    [Fact]
    public void ACheckpointWithAParameterTheModelLacksIsRefused()
    {
        manual_seed(3);
        using var other = nn.Sequential(("fc1", nn.Linear(10, 33)), ("act", nn.Tanh()), ("fc2", nn.Linear(33, 5, hasBias: false)));
        var problem = LoadDamaged(_ => { }, other);
        Assert.Contains(CheckpointManifest.FileName, problem);
        Assert.Contains("parameter #3: (none) (model) vs fc2.bias [5] (checkpoint)", problem);
    }

    [Fact]
    public void ACheckpointWithItsParametersInAnotherOrderIsRefused()
    {
        manual_seed(3);
        using var other = nn.Sequential(("fc2", nn.Linear(10, 33)), ("act", nn.Tanh()), ("fc1", nn.Linear(33, 5)));
        var problem = LoadDamaged(_ => { }, other);
        Assert.Contains("parameter #0: fc2.weight [33, 10] (model) vs fc1.weight [33, 10] (checkpoint)", problem);
    }

    [Fact]
    public async Task ACommittedCheckpointIsNeverOverwritten()
    {
        var manifestBefore = File.ReadAllText(Path.Combine(saved.CheckpointDirectory, CheckpointManifest.FileName));
        var e = await Assert.ThrowsAsync<CheckpointException>(() => new LocalCheckpointCatalog(saved.Root).BeginAsync(SavedCheckpointFixture.Steps));
        Assert.Contains("never overwritten", e.Message);
        Assert.Equal(manifestBefore, File.ReadAllText(Path.Combine(saved.CheckpointDirectory, CheckpointManifest.FileName)));
    }

    [Fact]
    public void VerifyNamesTheDamagedFile()
    {
        var dir = saved.Copy();
        try
        {
            File.AppendAllText(Path.Combine(dir, Shard0), "x");
            var result = CheckpointVerifier.Verify(dir);
            Assert.False(result.Ok);
            Assert.Contains(Shard0, result.FirstProblem);
            Assert.True(result.Shards[1].Ok);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Damages a copy, loads it on one rank and returns the refusal's message after checking nothing changed.</summary>
    /// <remarks>For damage found before reading: manifest, layout, a shard's presence, size or header.</remarks>
    private string LoadDamaged(Action<string> damage, nn.Module<Tensor, Tensor>? model = null)
    {
        var dir = saved.Copy();
        try
        {
            damage(dir);
            using var c = new SingleProcessCollective();
            using var owned = model is null ? MlpProblem.Model() : null;
            using var flat = FlatParameters.FromModule(model ?? owned!, 1);
            using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options());
            using var before = flat.Values.clone();
            var e = Assert.Throws<CheckpointException>(() => ShardedCheckpoint.Load(dir, adan, c));
            Assert.True(before.eq(flat.Values).all().item<bool>(), "a refused load changed the parameters");
            Assert.True(adan.StateBuffer("exp_avg").eq(0).all().item<bool>(), "a refused load changed the state");
            Assert.Equal(0, adan.Groups[0].Step);
            return e.Message;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
