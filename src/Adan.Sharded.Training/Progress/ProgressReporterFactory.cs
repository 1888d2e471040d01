namespace Adan.Sharded.Training.Progress;

/// <summary>Picks the progress display for a rank.</summary>
internal static class ProgressReporterFactory
{
    /// <summary>
    /// Rank 0: a live display when standard output is a terminal, plain lines every
    /// <paramref name="logEvery"/> steps when it is redirected. Other ranks: silent.
    /// </summary>
    /// <remarks>
    /// Under <c>mpiexec</c> a rank's output is a pipe even when the user watches a terminal, so
    /// <c>adan launch</c> sets <see cref="TerminalVariable"/> when its own output is a terminal, and
    /// rank 0 then draws the live display through the pipe (Hydra forwards the bytes unchanged).
    /// </remarks>
    public static IProgressReporter Create(int rank, long logEvery)
    {
        var forcedTerminal = Environment.GetEnvironmentVariable(TerminalVariable) == "1";
        if (rank == 0 && forcedTerminal && Console.IsOutputRedirected)
        {
            var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
            {
                Ansi = Spectre.Console.AnsiSupport.Yes,
                ColorSystem = Spectre.Console.ColorSystemSupport.Standard,
                Interactive = Spectre.Console.InteractionSupport.Yes,
                Out = new Spectre.Console.AnsiConsoleOutput(Console.Out),
            });
            if (int.TryParse(Environment.GetEnvironmentVariable(ColumnsVariable), out var columns) && columns > 0)
            {
                console.Profile.Width = columns;
            }
            return new LiveProgressReporter(console);
        }
        return Create(rank, logEvery, Console.IsOutputRedirected, Console.Out);
    }

    /// <summary>Set to 1 by <c>adan launch</c> when its output is a terminal.</summary>
    public const string TerminalVariable = "ADAN_PROGRESS_TERMINAL";

    /// <summary>The launcher's terminal width, passed to rank 0.</summary>
    public const string ColumnsVariable = "ADAN_PROGRESS_COLUMNS";

    /// <summary>As <see cref="Create(int, long)"/>, with the terminal test and the output given (for tests).</summary>
    public static IProgressReporter Create(int rank, long logEvery, bool outputRedirected, TextWriter output)
    {
        if (rank != 0)
        {
            return new SilentProgressReporter();
        }
        return outputRedirected ? new PlainProgressReporter(output, logEvery) : new LiveProgressReporter();
    }
}
