using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Adan.Sharded.Flat;
using Adan.Sharded.IO;
using Adan.Sharded.Sampling;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// <c>manifest.json</c>, the commit record of a checkpoint: format version, step, world size, flat layout,
/// optimizer groups and step counts, the trainer's <see cref="TrainingProgress"/>, and every shard's size and
/// SHA-256. Fields the coordinator adds (<c>job_id</c>, <c>checkpoint_id</c>) are ignored when read.
/// </summary>
public sealed record CheckpointManifest
{
    /// <summary>
    /// The manifest format this build writes: 3 describes any optimizer (its name, each group's options as a JSON
    /// object, per-parameter step counts, and each state tensor's name, dtype and shape); 2 kept the module's buffers in
    /// their own hashed file (<see cref="ModuleBuffers"/>) and Adan's fixed fields; version 1 kept the buffers as base64
    /// in <see cref="Extra"/>. Older versions are read and turned into version 3's fields; a build that reads only older
    /// versions refuses a newer one by its version number, before reading anything else.
    /// </summary>
    public const int CurrentFormatVersion = 3;

    /// <summary>The oldest manifest format this build still reads.</summary>
    public const int MinimumFormatVersion = 1;

    /// <summary>The manifest's file name in a checkpoint directory.</summary>
    public const string FileName = "manifest.json";

    /// <summary>The tensors in every shard file of an Adan checkpoint, in file order: the parameters, then Adan's four buffers (all that formats 1 and 2 held).</summary>
    public static IReadOnlyList<string> ShardTensorNames { get; } = ["param", "exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"];

    /// <summary>Format version (<see cref="CurrentFormatVersion"/>).</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>Optimizer steps completed when saved.</summary>
    public long Step { get; init; }

    /// <summary>Number of shards (ranks that saved).</summary>
    public int WorldSize { get; init; }

    /// <summary>The ZeRO stage of the run that saved (informational: the files do not depend on it).</summary>
    public int ZeroStage { get; init; }

    /// <summary>The flat layout the shards slice (padded for <see cref="WorldSize"/>).</summary>
    public required FlatLayoutDocument Layout { get; init; }

    /// <summary>The tensor names in each shard file.</summary>
    public string[] Tensors { get; init; } = [.. ShardTensorNames];

    /// <summary>Optimizer groups, step counts and per-parameter flags.</summary>
    public required CheckpointOptimizerState Optimizer { get; init; }

    /// <summary>Position in the learning-rate schedule.</summary>
    public long LearningRateStep { get; init; }

    /// <summary>The data sampler's next (epoch, batch).</summary>
    public SamplerPosition Sampler { get; init; }

    /// <summary>Named RNG seeds.</summary>
    public Dictionary<string, long> RngSeeds { get; init; } = [];

    /// <summary>Free-form JSON the trainer filled (model name, config).</summary>
    public JsonObject Extra { get; init; } = [];

    /// <summary>Every shard, by rank; empty in the body sent to a catalogue before commit.</summary>
    public CheckpointShard[] Shards { get; init; } = [];

    /// <summary>
    /// The module's buffers (BatchNorm running statistics and the like) as one plain safetensors file written by rank 0,
    /// with its size and SHA-256; null when the model has none, and in format version 1.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public CheckpointFileEntry? ModuleBuffers { get; init; }

    /// <summary>The coordinator's job id, when a coordinator committed the checkpoint; absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? JobId { get; init; }

    /// <summary>The coordinator's checkpoint id, when a coordinator committed the checkpoint; absent otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? CheckpointId { get; init; }

    /// <summary>The trainer's part, as it was passed to the save.</summary>
    [JsonIgnore]
    public TrainingProgress Progress => new(LearningRateStep, Sampler, RngSeeds, Extra);

    /// <summary>The full manifest as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>
    /// Parses a manifest and checks it with <see cref="CheckpointManifestRules"/>; the shard list may be empty (the body
    /// a rank sends for commit), and is checked when it is not. <paramref name="source"/> names the file in errors.
    /// </summary>
    /// <exception cref="CheckpointException">Not JSON, an unknown format version, a required field missing, or a rule broken.</exception>
    public static CheckpointManifest Parse(string json, string source) => Parse(json, source, requireShards: false);

    /// <summary>Reads <c>manifest.json</c> of a checkpoint directory and checks it, its shard list included.</summary>
    /// <exception cref="CheckpointException">It is missing (the checkpoint is not committed), not valid, or breaks a rule.</exception>
    public static CheckpointManifest Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new CheckpointException($"{path} does not exist: the checkpoint was never committed.");
        }
        string json;
        try
        {
            // Not a link, not a FIFO or device, and bounded: a planted manifest.json must not block or exhaust the reader.
            var bytes = NoFollowFiles.ReadSmallFile(path, NoFollowFiles.MaxManifestBytes);
            json = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointException($"{path}: the manifest is not valid UTF-8.", e);
        }
        catch (FileNotFoundException e)
        {
            throw new CheckpointException($"{path} does not exist: the checkpoint was never committed.", e);
        }
        catch (IOException e)
        {
            throw new CheckpointException($"refusing the manifest: {e.Message}", e);
        }
        return Parse(json, path, requireShards: true);
    }

    private static CheckpointManifest Parse(string json, string source, bool requireShards)
    {
        CheckpointManifest manifest;
        try
        {
            var node = JsonNode.Parse(json) as JsonObject
                ?? throw new CheckpointException($"{source}: the manifest is not a JSON object.");
            var version = node["format_version"]?.GetValue<int>()
                ?? throw new CheckpointException($"{source}: the manifest has no format_version.");
            if (version is < MinimumFormatVersion or > CurrentFormatVersion)
            {
                // Before anything else: a newer format may mean anything by the other fields.
                throw new CheckpointException(
                    $"{source}: manifest format version {version} is not supported; this build reads versions {MinimumFormatVersion} to {CurrentFormatVersion}.");
            }
            manifest = node.Deserialize<CheckpointManifest>(s_json)
                ?? throw new CheckpointException($"{source}: the manifest is empty.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException or ArgumentException)
        {
            // ArgumentException: a key twice in one object.
            throw new CheckpointException($"{source}: the manifest is not valid: {e.Message}", e);
        }
        CheckpointManifestRules.Check(manifest, source, requireShards);
        return manifest with
        {
            Shards = [.. manifest.Shards.OrderBy(s => s.Rank)],
            Optimizer = manifest.Optimizer.Upgraded(manifest.Layout.TotalNumel / manifest.WorldSize),
        };
    }

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        RespectRequiredConstructorParameters = true,
    };
}
