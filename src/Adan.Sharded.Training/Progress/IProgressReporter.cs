namespace Adan.Sharded.Training.Progress;

/// <summary>
/// Shows training progress. Rank 0 gets a live display on a terminal or plain log lines
/// otherwise; the other ranks a silent one (see <see cref="ProgressReporterFactory"/>).
/// </summary>
internal interface IProgressReporter : IDisposable
{
    /// <summary>Begins a run of <paramref name="totalSteps"/> optimizer steps (resumed runs report from their first step on).</summary>
    void Start(long totalSteps);

    /// <summary>Records the state after a step; cheap enough to call every step.</summary>
    void Report(StepReport report);

    /// <summary>Shows a line of text (an evaluation result, a checkpoint) without breaking the display.</summary>
    void Message(string text);

    /// <summary>Ends the display; later calls are ignored.</summary>
    void Complete();
}
