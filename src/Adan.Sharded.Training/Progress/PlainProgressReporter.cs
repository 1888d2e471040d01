using System.Diagnostics;

namespace Adan.Sharded.Training.Progress;

/// <summary>
/// Writes a <see cref="ProgressFormat.Line"/> every <c>interval</c> steps and at the last step:
/// for logs, pipes and batch schedulers, where a redrawn display would be noise.
/// </summary>
internal sealed class PlainProgressReporter : IProgressReporter
{
    private readonly TextWriter _output;
    private readonly long _interval;
    private readonly Stopwatch _clock = new();
    private long _firstStep = -1;
    private bool _completed;

    /// <summary>Creates the reporter.</summary>
    /// <param name="output">Where lines go (normally standard output).</param>
    /// <param name="interval">Steps between lines.</param>
    public PlainProgressReporter(TextWriter output, long interval)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(interval);
        _output = output;
        _interval = interval;
    }

    /// <inheritdoc />
    public void Start(long totalSteps)
    {
        _clock.Restart();
        _firstStep = -1;
        _completed = false;
    }

    /// <inheritdoc />
    public void Report(StepReport report)
    {
        if (_completed)
        {
            return;
        }
        if (_firstStep < 0)
        {
            // The rate counts from the first reported step, so a resumed run's ETA is not skewed by steps done earlier.
            _firstStep = report.Step - 1;
        }
        if (report.Step % _interval != 0 && report.Step != report.TotalSteps)
        {
            return;
        }
        var eta = ProgressFormat.Eta(_clock.Elapsed, report.Step - _firstStep, report.TotalSteps - report.Step);
        _output.WriteLine(ProgressFormat.Line(report, eta));
        _output.Flush();
    }

    /// <inheritdoc />
    public void Message(string text)
    {
        _output.WriteLine(text);
        _output.Flush();
    }

    /// <inheritdoc />
    public void Complete() => _completed = true;

    /// <inheritdoc />
    public void Dispose() => Complete();
}
