using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// One line per event, for logs and pipes, each naming its run, so that runs side by side interleave readably:
/// <c>[2/8] 512-adan: epoch 1 step 40/117 loss 0.5123 sweep eta 00:12:03</c>.
/// </summary>
internal sealed class PlainSweepProgress(TextWriter output) : ISweepProgress
{
    private readonly Lock _gate = new();
    private int _total;

    /// <inheritdoc />
    public void Start(int total) => _total = total;

    /// <inheritdoc />
    public void RunStarted(int index, PlannedRun run, LaunchSlice slice) => Write(index, run, SweepText.Started(run, slice));

    /// <inheritdoc />
    public void RunProgress(int index, PlannedRun run, StepMetrics step, TimeSpan? eta) => Write(index, run, SweepText.Progress(step, eta));

    /// <inheritdoc />
    public void RunEnded(int index, PlannedRun run, string summary) => Write(index, run, summary);

    /// <inheritdoc />
    public void Complete()
    {
    }

    /// <inheritdoc />
    public void Dispose() => Complete();

    private void Write(int index, PlannedRun run, string text)
    {
        lock (_gate)
        {
            output.WriteLine($"[{index}/{_total}] {run.Name}: {text}");
            output.Flush();
        }
    }
}
