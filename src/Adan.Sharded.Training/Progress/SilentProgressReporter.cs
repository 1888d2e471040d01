namespace Adan.Sharded.Training.Progress;

/// <summary>Shows nothing: for ranks other than 0, whose output would duplicate rank 0's.</summary>
internal sealed class SilentProgressReporter : IProgressReporter
{
    /// <inheritdoc />
    public void Start(long totalSteps)
    {
    }

    /// <inheritdoc />
    public void Report(StepReport report)
    {
    }

    /// <inheritdoc />
    public void Message(string text)
    {
    }

    /// <inheritdoc />
    public void Complete()
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
