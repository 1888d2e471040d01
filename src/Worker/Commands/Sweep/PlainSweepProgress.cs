using Adan.Worker.Progress;
using Adan.Worker.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>One line per event, for logs and pipes: <c>[2/8] 512-adan: epoch 1 step 40/117 loss 0.5123 sweep eta 00:12:03</c>.</summary>
internal sealed class PlainSweepProgress(TextWriter output) : ISweepProgress
{
    private int _total;
    private int _index;
    private string _name = string.Empty;

    /// <inheritdoc />
    public void Start(int total) => _total = total;

    /// <inheritdoc />
    public void RunStarted(int index, PlannedRun run)
    {
        (_index, _name) = (index, run.Name);
        Write(SweepText.Started(run));
    }

    /// <inheritdoc />
    public void RunProgress(StepMetrics step, TimeSpan? eta) => Write(SweepText.Progress(step, eta));

    /// <inheritdoc />
    public void RunEnded(int index, PlannedRun run, string summary)
    {
        (_index, _name) = (index, run.Name);
        Write(summary);
    }

    /// <inheritdoc />
    public void Complete()
    {
    }

    /// <inheritdoc />
    public void Dispose() => Complete();

    private void Write(string text)
    {
        output.WriteLine($"[{_index}/{_total}] {_name}: {text}");
        output.Flush();
    }
}
