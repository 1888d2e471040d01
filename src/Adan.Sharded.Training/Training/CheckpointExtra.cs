using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Training.Models;
using Adan.Sharded.Training.Telemetry;
using TorchSharp;

namespace Adan.Sharded.Training;

/// <summary>
/// The trainer's part of a checkpoint, kept in the manifest's free-form <c>extra</c> object besides the flat parameters
/// and Adan's state: the model name and its architecture (<see cref="ModelArchitecture"/>), the last global loss, the samples of one optimizer step over all ranks and whether they were drawn shuffled, the
/// learning-rate schedule's shape (<see cref="ScheduleRecord"/>), the samples trained on so far, and the program's version
/// and git commit that wrote it (<see cref="BuildInfo"/>, null when unknown). Every read and write
/// of those keys goes through this type; a key an older checkpoint lacks reads as null. Checkpoints of manifest format
/// version 1 also kept the module's buffers here as base64 fp32; they are still restored from there, while new
/// checkpoints keep them in their hashed buffers file (<see cref="ModelBuffers"/>).
/// </summary>
internal sealed class CheckpointExtra
{
    private const string ModelKey = "model";
    private const string LastLossKey = "last_loss";
    private const string BuffersKey = "buffers";
    private const string GlobalBatchKey = "global_batch";
    private const string ScheduleKey = "schedule";
    private const string SamplesSeenKey = "samples_seen";
    private const string VersionKey = "version";
    private const string GitCommitKey = "git_commit";
    private const string ArchitectureKey = "architecture";
    private const string ShuffleKey = "shuffle";

    private readonly JsonObject? _json;

    private CheckpointExtra(JsonObject? json)
    {
        _json = json;
    }

    /// <summary>The last global training loss, NaN when the checkpoint does not record it.</summary>
    public double LastLoss => _json?[LastLossKey]?.GetValue<double>() ?? double.NaN;

    /// <summary>
    /// Samples of one optimizer step over all ranks, null when the checkpoint does not record it (one written before
    /// the global batch was kept).
    /// </summary>
    public long? GlobalBatch => _json?[GlobalBatchKey] is JsonValue value && value.TryGetValue<long>(out var recorded) && recorded > 0
        ? recorded
        : null;

    /// <summary>
    /// Samples trained on over all ranks up to the checkpoint, across every run it continues; null when the checkpoint
    /// does not record it (one written before the schedule was positioned by samples).
    /// </summary>
    public long? SamplesSeen => _json?[SamplesSeenKey] is JsonValue value && value.TryGetValue<long>(out var recorded) && recorded >= 0
        ? recorded
        : null;

    /// <summary>
    /// Whether the run that wrote the checkpoint drew its samples in a shuffled order (the <c>shuffle</c> key), null when
    /// the checkpoint does not record it (one written before the key existed, when every run shuffled).
    /// </summary>
    public bool? Shuffle => _json?[ShuffleKey] is JsonValue value && value.TryGetValue<bool>(out var recorded) ? recorded : null;

    /// <summary>The version of the program that wrote the checkpoint, null when not recorded.</summary>
    public string? Version => _json?[VersionKey] is JsonValue value && value.TryGetValue<string>(out var recorded) ? recorded : null;

    /// <summary>The git commit the program that wrote the checkpoint was built from, null when not recorded or unknown.</summary>
    public string? GitCommit => _json?[GitCommitKey] is JsonValue value && value.TryGetValue<string>(out var recorded) ? recorded : null;

    /// <summary>The model's config name, null when the checkpoint does not record it.</summary>
    public string? ModelName => _json?[ModelKey] is JsonValue value && value.TryGetValue<string>(out var recorded) ? recorded : null;

    /// <summary>
    /// The model's architecture, null when the checkpoint does not record it (one written before architectures were
    /// recorded: only <see cref="ModelName"/> is known then).
    /// </summary>
    /// <param name="source">The checkpoint, for error messages.</param>
    /// <exception cref="CheckpointException">The recorded architecture is not valid.</exception>
    public ModelArchitecture? Architecture(string source)
    {
        if (_json?[ArchitectureKey] is not { } node)
        {
            return null;
        }
        try
        {
            return ModelArchitecture.FromJson(node as JsonObject
                ?? throw new InvalidDataException($"{source}: extra.{ArchitectureKey} is {node.ToJsonString()}, not a JSON object."), $"{source} (extra.{ArchitectureKey})");
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointException(e.Message, e);
        }
    }

    /// <summary>The learning-rate schedule's shape, null when the checkpoint does not record it.</summary>
    /// <param name="source">The checkpoint, for error messages.</param>
    /// <exception cref="CheckpointException">The recorded schedule is not valid.</exception>
    public ScheduleRecord? Schedule(string source) => ScheduleRecord.FromJson(_json?[ScheduleKey], source);

    /// <summary>Reads the trainer's values from a manifest's <c>extra</c> object (null reads as empty).</summary>
    public static CheckpointExtra Of(JsonObject? extra) => new(extra);

    /// <summary>True when the manifest holds module buffers (format version 1), which the buffers file replaced.</summary>
    public bool HasManifestBuffers => _json?[BuffersKey] is JsonObject { Count: > 0 };

    /// <summary>
    /// The <c>extra</c> object for a checkpoint (model name, loss, global batch, the sampler's order, the program's
    /// version and commit); the buffers go to the buffers file.
    /// </summary>
    public static JsonObject Capture(string model, double lastLoss, long globalBatch, bool shuffle) => new()
    {
        [ModelKey] = model,
        [LastLossKey] = lastLoss,
        [GlobalBatchKey] = globalBatch,
        [ShuffleKey] = shuffle,
        [VersionKey] = BuildInfo.Version,
        [GitCommitKey] = BuildInfo.GitCommit,
    };

    /// <summary>Adds the model's architecture to an <c>extra</c> object made by <see cref="Capture"/>.</summary>
    public static void RecordArchitecture(JsonObject extra, ModelArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(extra);
        ArgumentNullException.ThrowIfNull(architecture);
        extra[ArchitectureKey] = architecture.ToJson();
    }

    /// <summary>Adds the schedule's shape and the samples seen after the checkpoint's step to an <c>extra</c> object made by <see cref="Capture"/>.</summary>
    public static void RecordSchedule(JsonObject extra, ScheduleRecord schedule, long samplesSeen)
    {
        extra[ScheduleKey] = schedule.ToJson();
        extra[SamplesSeenKey] = samplesSeen;
    }

    /// <summary>
    /// Restores the buffers a format-version-1 checkpoint kept in its manifest into <paramref name="module"/>; a
    /// checkpoint without them leaves it as it is.
    /// </summary>
    /// <param name="module">The model, built as the saved one was.</param>
    /// <param name="source">The checkpoint, for error messages.</param>
    /// <exception cref="CheckpointException">A buffer of the model is missing or has another size.</exception>
    public void RestoreBuffers(torch.nn.Module module, string source)
    {
        if (_json?[BuffersKey] is not JsonObject buffers)
        {
            return;
        }
        foreach (var (name, buffer) in module.named_buffers())
        {
            if (buffer.dtype != torch.ScalarType.Float32)
            {
                continue;
            }
            if (buffers[name]?.GetValue<string>() is not { } text)
            {
                throw new CheckpointException($"{source}: the checkpoint has no value for buffer '{name}' of this model.");
            }
            var bytes = Convert.FromBase64String(text);
            if (bytes.Length != buffer.numel() * sizeof(float))
            {
                throw new CheckpointException($"{source}: buffer '{name}' has {bytes.Length / sizeof(float)} values, the model expects {buffer.numel()}.");
            }
            if (buffer.device_type == DeviceType.CPU)
            {
                buffer.bytes = bytes;
                continue;
            }
            using var host = torch.empty(buffer.shape, torch.ScalarType.Float32);
            host.bytes = bytes;
            using (torch.no_grad())
            {
                buffer.copy_(host);
            }
        }
    }
}
