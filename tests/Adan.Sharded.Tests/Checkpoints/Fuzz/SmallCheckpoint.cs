using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Flat;

namespace Adan.Sharded.Tests.Checkpoints.Fuzz;

/// <summary>A complete, valid two-shard checkpoint of two small parameters, written without a model or MPI.</summary>
internal static class SmallCheckpoint
{
    public const int WorldSize = 2;

    /// <summary>A fresh directory in memory where the machine has one (tmpfs), so thousands of small writes stay fast.</summary>
    public static string ScratchDirectory(string prefix) =>
        OperatingSystem.IsLinux() && Directory.Exists("/dev/shm")
            ? Directory.CreateDirectory(Path.Combine("/dev/shm", prefix + Guid.NewGuid().ToString("N"))).FullName
            : Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>Writes the shards and commits the manifest in <paramref name="directory"/>; returns the manifest.</summary>
    public static CheckpointManifest Write(string directory)
    {
        var layout = FlatLayout.Build([("w", [3L]), ("b", [2L, 2L])], WorldSize, alignment: 1);
        var shards = new CheckpointShard[WorldSize];
        for (var rank = 0; rank < WorldSize; rank++)
        {
            var header = SafetensorsHeader.ForFloat32(CheckpointManifest.ShardTensorNames.Select(n => (n, new[] { layout.ShardSize })),
                new Dictionary<string, string> { ["format"] = "pt" });
            var data = Enumerable.Range(0, 5 * (int)layout.ShardSize).Select(i => rank + i * 0.5f).ToArray();
            byte[] bytes = [.. header, .. MemoryMarshal.AsBytes(data.AsSpan()).ToArray()];
            var file = CheckpointFiles.ShardFileName(rank, WorldSize);
            File.WriteAllBytes(Path.Combine(directory, file), bytes);
            shards[rank] = new CheckpointShard(rank, file, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
        var manifest = new CheckpointManifest
        {
            Step = 4,
            WorldSize = WorldSize,
            ZeroStage = 1,
            Layout = layout.ToDocument(),
            Optimizer = new CheckpointOptimizerState("adan", 1.0, 0, [true, false], [new CheckpointGroup(0.01, 0.02, 0.08, 0.01, 1e-8, 0.02, false, 4, [0, 1])]),
            LearningRateStep = 4,
            Sampler = new Adan.Sharded.Sampling.SamplerPosition(0, 4),
            RngSeeds = new() { ["seed"] = 7 },
            Shards = shards,
        };
        CheckpointCommit.Commit(directory, manifest);
        return manifest;
    }
}
