using System.CommandLine;
using System.Diagnostics;
using Adan.Worker.Launch;
using Adan.Worker.Processes;

namespace Adan.Worker.Commands;

/// <summary><c>adan coordinator ...</c>: runs the job coordinator in the foreground.</summary>
/// <remarks>
/// The worker does not link the server: this runs the shipped coordinator executable with the same arguments, so the
/// flags, messages and exit codes are the coordinator's own and the two entry points cannot drift apart. It runs it in
/// place of <c>adan</c> (<c>execvp</c>), with the same pid, so that whatever a supervisor sends that pid reaches the
/// server itself: SIGTERM stops it, SIGHUP reloads its credentials, and SIGKILL leaves no server behind holding the port
/// and the data directory. A child would outlive a killed <c>adan</c>; a parent-death signal
/// (<c>PR_SET_PDEATHSIG</c>) fires when the forking <em>thread</em> ends, which in .NET may be any pool thread.
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

    /// <summary>Replaces this process with the coordinator executable run with <paramref name="arguments"/>.</summary>
    /// <remarks>Called before adan's own parsing, so that <c>--help</c> and every flag are the coordinator's.</remarks>
    /// <returns>1, when the coordinator could not be run; otherwise it does not return.</returns>
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
        var reason = ProcessImage.Replace(info);
        Console.Error.WriteLine($"adan coordinator: cannot run {info.FileName}: {reason}");
        return 1;
    }
}
