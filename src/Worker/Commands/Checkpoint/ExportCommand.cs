using System.CommandLine;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Training.Models;
using Adan.Sharded.Training;

namespace Adan.Worker.Commands.Checkpoint;

/// <summary>
/// <c>adan checkpoint export DIR --out model.safetensors</c>: the model as one plain safetensors file with the model's
/// parameter and buffer names and shapes (loadable by the Python safetensors package), streamed from the shards, and
/// beside it <c>config.json</c> (<see cref="ExportedModelConfig"/>), the architecture that builds the model again.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var directory = CheckpointArguments.Directory();
        var output = new Option<FileInfo>("--out") { Description = "The consolidated safetensors file to write", Required = true };
        var command = new Command("export", "Write the model weights of a checkpoint as one safetensors file (verified first), and config.json beside it with the architecture that builds the model") { directory, output };
        command.SetAction(r =>
        {
            var weights = r.GetValue(output)!.FullName;
            // Resolved once, so that the weights and config.json describe the same checkpoint even if a newer one commits
            // meanwhile; the config is built first, so that a checkpoint whose recorded architecture is invalid writes nothing.
            var checkpointDirectory = CheckpointFiles.Resolve(r.GetValue(directory)!);
            var config = ExportedModelConfig.Describe(checkpointDirectory, CheckpointManifest.Read(checkpointDirectory), weights);
            var (checkpoint, bytes, sha256) = CheckpointExporter.Export(checkpointDirectory, weights);
            var manifest = checkpoint.Manifest;
            Console.WriteLine($"wrote {weights}: {manifest.Layout.Parameters.Length} parameters" +
                $"{(manifest.ModuleBuffers is null ? "" : " and the module buffers")}, {bytes} bytes, sha256 {sha256} (step {manifest.Step})");
            var configPath = ExportedModelConfig.Write(config, weights);
            Console.WriteLine(config["architecture"] is null
                ? $"wrote {configPath}: model {config["model"]?.GetValue<string>() ?? "unknown"}, no architecture recorded (see its note)"
                : $"wrote {configPath}: the {config["model"]!.GetValue<string>()} architecture to build the model again");
            if (CheckpointExtra.Of(manifest.Extra).HasManifestBuffers)
            {
                Console.Error.WriteLine($"warning: this checkpoint (format version {manifest.FormatVersion}) keeps its module buffers (BatchNorm statistics) " +
                    "inside manifest.json, and they are not exported; resume from it and save again to get a checkpoint whose export has them.");
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
