using System.CommandLine;
using Adan.Sharded.Checkpoints;

namespace Adan.Worker.Commands.Checkpoint;

/// <summary>What the checkpoint subcommands share: the DIR argument and how a refusal is reported.</summary>
internal static class CheckpointArguments
{
    /// <summary>Exit code of a checkpoint that is incomplete, damaged or not a checkpoint.</summary>
    public const int Invalid = 1;

    public static Argument<string> Directory() => new("DIR")
    {
        Description = "A checkpoint directory, or a root of step-* directories (the newest committed one is used)",
    };

    /// <summary>Runs <paramref name="action"/>, turning a <see cref="CheckpointException"/> into one line on stderr and exit code 1.</summary>
    public static int Guard(string command, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (CheckpointException e)
        {
            Console.Error.WriteLine($"adan checkpoint {command}: {e.Message}");
            return Invalid;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"adan checkpoint {command}: {e.Message}");
            return Invalid;
        }
    }
}
