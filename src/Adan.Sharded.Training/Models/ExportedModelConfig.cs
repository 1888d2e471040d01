using System.Text.Json;
using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.IO;
using Adan.Sharded.Training;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// The <c>config.json</c> that <c>adan checkpoint export</c> writes beside the weights: what model they belong to, so
/// that the export loads back into a fresh model (<see cref="ModelArchitecture.FromJson"/> of <c>architecture</c>, then
/// <see cref="ModelArchitecture.Create"/>; the safetensors names and shapes are the model's).
/// </summary>
/// <remarks>
/// Keys: <c>model</c> (the config name), <c>architecture</c> (<see cref="ModelArchitecture.ToJson"/>), <c>weights</c>
/// (the safetensors file's name in the same folder), <c>step</c>, <c>checkpoint</c> (its directory) and the
/// <c>version</c> and <c>git_commit</c> of the program that wrote the checkpoint. A checkpoint written before
/// architectures were recorded still exports: <c>architecture</c> is null, <c>model</c> is what it recorded (or null),
/// and <c>note</c> says where the missing keys are. One folder holds one export's <c>config.json</c>: a second export
/// into it replaces the file, and its <c>weights</c> names the file it describes.
/// </remarks>
internal static class ExportedModelConfig
{
    /// <summary>The file name, as Hugging Face exports name theirs.</summary>
    public const string FileName = "config.json";

    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

    /// <summary>The config of the checkpoint in <paramref name="checkpointDirectory"/> exported as <paramref name="weightsPath"/>.</summary>
    /// <exception cref="CheckpointException">The checkpoint records an architecture that is not valid.</exception>
    public static JsonObject Describe(string checkpointDirectory, CheckpointManifest manifest, string weightsPath)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var extra = CheckpointExtra.Of(manifest.Extra);
        var architecture = extra.Architecture(checkpointDirectory);
        var config = new JsonObject
        {
            ["model"] = architecture?.ModelName ?? extra.ModelName,
            ["architecture"] = architecture?.ToJson(),
        };
        if (architecture is null)
        {
            config["note"] = $"this checkpoint (written by adan {extra.Version ?? "of an unknown version"}) records no architecture, only the model name; "
                + "build the model with the architecture keys (adan config keys marks them) of the run that trained it, in its run_dir/resolved-config.json.";
        }
        config["weights"] = Path.GetFileName(weightsPath);
        config["step"] = manifest.Step;
        config["checkpoint"] = checkpointDirectory;
        config["version"] = extra.Version;
        config["git_commit"] = extra.GitCommit;
        return config;
    }

    /// <summary>Writes <paramref name="config"/> as <c>config.json</c> in the folder of <paramref name="weightsPath"/>, replaced whole; returns its path.</summary>
    public static string Write(JsonObject config, string weightsPath)
    {
        ArgumentNullException.ThrowIfNull(config);
        var path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weightsPath))!, FileName);
        AtomicFile.WriteAllText(path, config.ToJsonString(s_indented) + "\n");
        return path;
    }
}
