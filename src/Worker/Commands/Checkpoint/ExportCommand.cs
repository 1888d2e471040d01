using System.CommandLine;
using Adan.Sharded.Checkpoints;
using Adan.Worker.Training;

namespace Adan.Worker.Commands.Checkpoint;

/// <summary>
/// <c>adan checkpoint export DIR --out model.safetensors</c>: the model as one plain safetensors file with the model's
/// parameter and buffer names and shapes (loadable by the Python safetensors package), streamed from the shards.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var directory = CheckpointArguments.Directory();
        var output = new Option<FileInfo>("--out") { Description = "The consolidated safetensors file to write", Required = true };
        var command = new Command("export", "Write the model weights of a checkpoint as one safetensors file (verified first)") { directory, output };
        command.SetAction(r =>
        {
            var (checkpoint, bytes, sha256) = CheckpointExporter.Export(r.GetValue(directory)!, r.GetValue(output)!.FullName);
            var manifest = checkpoint.Manifest;
            Console.WriteLine($"wrote {r.GetValue(output)!.FullName}: {manifest.Layout.Parameters.Length} parameters" +
                $"{(manifest.ModuleBuffers is null ? "" : " and the module buffers")}, {bytes} bytes, sha256 {sha256} (step {manifest.Step})");
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
