using System.CommandLine;

namespace Adan.Worker.Commands.Checkpoint;

/// <summary>The DIR argument the checkpoint subcommands share.</summary>
internal static class CheckpointArguments
{
    public static Argument<string> Directory() => new("DIR")
    {
        Description = "A checkpoint directory, or a root of step-* directories (the newest committed one is used)",
    };
}
