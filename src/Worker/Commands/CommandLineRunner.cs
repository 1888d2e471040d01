using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace Adan.Worker.Commands;

/// <summary>
/// Parses and runs the <c>adan</c> command line with one convention for every command (see <see cref="ExitCodes"/>):
/// each error is one line on stderr, <c>adan COMMAND: message</c>, with no help dump and, for an expected failure,
/// no stack trace.
/// </summary>
internal static class CommandLineRunner
{
    /// <summary>Runs the command <paramref name="args"/> names and returns the process exit code.</summary>
    public static int Run(RootCommand root, string[] args)
    {
        var result = root.Parse(args);
        var name = CommandPath(result);
        // A command whose action clears parse errors (the coordinator's) reports them itself, the same way.
        if (result.Action is ParseErrorAction)
        {
            // Unmatched tokens also leave a "required command" error behind that would only confuse.
            var problem = result.UnmatchedTokens.Count > 0
                ? $"unrecognized argument(s): {string.Join(' ', result.UnmatchedTokens)}"
                : string.Join("; ", result.Errors.Select(error => string.Join(' ', error.Message.Split(['\n', '\t'], StringSplitOptions.RemoveEmptyEntries))).Distinct());
            return ReportUsage(name, $"{problem} (see {name} --help)");
        }
        try
        {
            return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (FailureKind.IsUsage(e))
        {
            // A launch MPI cannot join is each task's own news: under srun every task is rank 0 of its own world.
            return ReportUsage(name, e.Message, everyRank: e is Adan.Sharded.Mpi.MpiLaunchException);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{name}: {FailureKind.Describe(e)}");
            if (!FailureKind.IsExpected(e))
            {
                // Not an expected failure: the trace is for a bug report.
                Console.Error.WriteLine(e.StackTrace);
            }
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// Reports a usage error once per job (unless <paramref name="everyRank"/>): under mpiexec or srun every rank parses
    /// the same command line and would print the same line.
    /// </summary>
    private static int ReportUsage(string name, string message, bool everyRank = false)
    {
        if (everyRank || Adan.Sharded.Mpi.LaunchEnvironment.FromProcess().Rank is null or 0)
        {
            Console.Error.WriteLine($"{name}: {message}");
        }
        return ExitCodes.Usage;
    }

    /// <summary>The command as the user typed it, e.g. <c>adan checkpoint verify</c>.</summary>
    private static string CommandPath(ParseResult result)
    {
        var names = new List<string>();
        for (var command = result.CommandResult; command is not null; command = command.Parent as CommandResult)
        {
            names.Insert(0, command.Command.Name);
        }
        return string.Join(' ', names);
    }
}
