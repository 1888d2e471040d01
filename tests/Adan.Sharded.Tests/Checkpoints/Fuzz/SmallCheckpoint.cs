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
            Optimizer = new CheckpointOptimizerState("adan", 1.0, 0, [new CheckpointGroup(4, [0, 1])
            {
                Options = new System.Text.Json.Nodes.JsonObject
                {
                    ["lr"] = 0.01, ["betas"] = new System.Text.Json.Nodes.JsonArray(0.02, 0.08, 0.01), ["eps"] = 1e-8, ["weight_decay"] = 0.02,
                    ["no_prox"] = false, ["max_grad_norm"] = 1.0,
                },
            }])
            {
                ParameterSteps = [4, 0],
                State = [.. CheckpointManifest.ShardTensorNames.Skip(1).Select(n => new CheckpointStateTensor(n, "F32", [layout.ShardSize]))],
            },
            LearningRateStep = 4,
            Sampler = new Adan.Sharded.Sampling.SamplerPosition(0, 4),
            RngSeeds = new() { ["seed"] = 7 },
            Shards = shards,
        };
        CheckpointCommit.Commit(directory, manifest);
        return manifest;
    }

    /// <summary>
    /// The version 3 manifest <paramref name="json"/> as format <paramref name="version"/> (1 or 2) wrote it: Adan's
    /// fixed group fields and has_previous_gradient instead of the options object, parameter steps and state list.
    /// </summary>
    public static string AsLegacy(string json, int version)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node["format_version"] = version;
        var optimizer = node["optimizer"]!.AsObject();
        var steps = optimizer["parameter_steps"]!.AsArray().Select(s => s!.GetValue<long>() > 0).ToArray();
        optimizer.Remove("parameter_steps");
        optimizer.Remove("state");
        optimizer["has_previous_gradient"] = new System.Text.Json.Nodes.JsonArray([.. steps.Select(b => (System.Text.Json.Nodes.JsonNode)b)]);
        foreach (var group in optimizer["groups"]!.AsArray())
        {
            var g = group!.AsObject();
            var options = g["options"]!.AsObject();
            g.Remove("options");
            var betas = options["betas"]!.AsArray();
            g["learning_rate"] = options["lr"]!.GetValue<double>();
            g["beta1"] = betas[0]!.GetValue<double>();
            g["beta2"] = betas[1]!.GetValue<double>();
            g["beta3"] = betas[2]!.GetValue<double>();
            g["eps"] = options["eps"]!.GetValue<double>();
            g["weight_decay"] = options["weight_decay"]!.GetValue<double>();
            g["no_prox"] = options["no_prox"]!.GetValue<bool>();
        }
        return node.ToJsonString();
    }
}
