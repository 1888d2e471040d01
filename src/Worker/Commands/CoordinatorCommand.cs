using System.CommandLine;
using Adan.Coordinator.Hosting;

namespace Adan.Worker.Commands;

/// <summary><c>adan coordinator</c>: runs the job coordinator in the foreground.</summary>
/// <remarks>The flags live in <see cref="CoordinatorCommandLine"/> so this and the standalone coordinator cannot drift apart.</remarks>
internal static class CoordinatorCommand
{
    public static Command Create()
    {
        var command = new Command("coordinator", "Run the gRPC coordinator (membership, learning rate, checkpoint commits) in the foreground.");
        CoordinatorCommandLine.Configure(command);
        return command;
    }
}
