using System.CommandLine;
using Adan.Worker.Commands.Checkpoint;

namespace Adan.Worker.Commands;

/// <summary>
/// <c>adan checkpoint</c>: look at, check and export sharded checkpoints. Every subcommand takes DIR, either a
/// checkpoint directory (holding <c>manifest.json</c>) or a root holding <c>step-*</c> directories, in which case the
/// committed one with the highest step is used.
/// </summary>
internal static class CheckpointCommand
{
    public static Command Create()
    {
        var command = new Command("checkpoint",
            "Inspect, verify or export a sharded checkpoint. DIR is a checkpoint directory or a root of step-* directories (then the newest committed one).");
        command.Subcommands.Add(InspectCommand.Create());
        command.Subcommands.Add(VerifyCommand.Create());
        command.Subcommands.Add(ExportCommand.Create());
        return command;
    }
}
