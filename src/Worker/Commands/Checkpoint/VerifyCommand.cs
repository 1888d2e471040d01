using System.CommandLine;
using Adan.Sharded.Checkpoints;

namespace Adan.Worker.Commands.Checkpoint;

/// <summary>
/// <c>adan checkpoint verify DIR</c>: exit code 0 only for a committed checkpoint whose every shard has the size and
/// SHA-256 the manifest records; otherwise 1, and the failing file on stderr.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var directory = CheckpointArguments.Directory();
        var command = new Command("verify", "Check that a checkpoint is complete and every shard matches its size and sha256 (exit code 0 only then)") { directory };
        command.SetAction(r =>
        {
            var result = CheckpointVerifier.Verify(r.GetValue(directory)!);
            foreach (var problem in result.Problems)
            {
                Console.Error.WriteLine($"adan checkpoint verify: {problem}");
            }
            if (!result.Ok)
            {
                return ExitCodes.Failure;
            }
            Console.WriteLine($"ok: step {result.Manifest.Step}, {result.Manifest.WorldSize} shards{(result.Manifest.ModuleBuffers is null ? "" : " and the module buffers")}, {result.Bytes} bytes, checksums match ({result.Directory})");
            return ExitCodes.Success;
        });
        return command;
    }
}
