namespace Adan.Worker.Progress;

/// <summary>Picks the progress display for a rank.</summary>
public static class ProgressReporterFactory
{
    /// <summary>
    /// Rank 0: a live display when standard output is a terminal, plain lines every
    /// <paramref name="logEvery"/> steps when it is redirected. Other ranks: silent.
    /// </summary>
    public static IProgressReporter Create(int rank, long logEvery) =>
        Create(rank, logEvery, Console.IsOutputRedirected, Console.Out);

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
