using System.CommandLine;
using System.Diagnostics;
using Adan.Worker.Launch;
using Adan.Worker.Processes;

namespace Adan.Worker.Commands;

/// <summary><c>adan coordinator ...</c>: runs the job coordinator in the foreground.</summary>
/// <remarks>
/// The worker does not link the server: this runs the shipped coordinator executable with the same arguments, so the
/// flags, messages and exit codes are the coordinator's own and the two entry points cannot drift apart. The child
/// shares the terminal; SIGINT reaches it with the process group, and SIGTERM to <c>adan</c> is passed on.
/// </remarks>
internal static class CoordinatorCommand
{
    /// <summary>The subcommand's name; Program hands every argument after it to <see cref="Run"/> unparsed.</summary>
    public const string Name = "coordinator";

    public static Command Create()
    {
        var arguments = new Argument<string[]>("arguments") { Description = "The coordinator's flags", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command(Name, "Run the gRPC coordinator (membership, learning rate, checkpoint commits) in the foreground.")
        {
            arguments,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        // Listed in adan's help; Program runs it before parsing, so this action is the fallback only.
        command.SetAction(parse => Run(parse.GetValue(arguments) ?? []));
        return command;
    }

    /// <summary>Runs the coordinator executable with <paramref name="arguments"/> and returns its exit code.</summary>
    /// <remarks>Called before adan's own parsing, so that <c>--help</c> and every flag are the coordinator's.</remarks>
    public static int Run(string[] arguments)
    {
        ProcessStartInfo info;
        try
        {
            info = CoordinatorProcess.StartInfo(arguments);
        }
        catch (FileNotFoundException e)
        {
            Console.Error.WriteLine($"adan coordinator: {e.Message}");
            return 1;
        }
        using var process = Process.Start(info)!;
        using var forward = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            Signal.Terminate(process.Id);
        });
        // SIGHUP reloads the coordinator's --credentials-file; adan must neither die of it nor keep it from the server.
        using var hangup = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            Signal.HangUp(process.Id);
        });
        process.WaitForExit();
        return process.ExitCode;
    }
}
