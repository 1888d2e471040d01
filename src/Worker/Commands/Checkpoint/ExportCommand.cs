using System.CommandLine;
using Adan.Sharded.Checkpoints;

namespace Adan.Worker.Commands.Checkpoint;

/// <summary>
/// <c>adan checkpoint export DIR --out model.safetensors</c>: the model weights as one plain safetensors file with the
/// model's parameter names and shapes (loadable by the Python safetensors package), streamed from the shards.
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
            Console.WriteLine($"wrote {r.GetValue(output)!.FullName}: {checkpoint.Manifest.Layout.Parameters.Length} tensors, {bytes} bytes, sha256 {sha256} (step {checkpoint.Manifest.Step})");
            return ExitCodes.Success;
        });
        return command;
    }
}
