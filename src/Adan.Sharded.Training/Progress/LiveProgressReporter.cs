using System.Collections.Concurrent;
using System.Globalization;
using Spectre.Console;

namespace Adan.Sharded.Training.Progress;

/// <summary>
/// A Spectre.Console progress bar for an interactive terminal: epoch, step, loss, learning rate,
/// samples/s, skipped steps (once there are any), elapsed time and ETA, redrawn a few times a second.
/// </summary>
/// <remarks>
/// Spectre's progress display owns the console from inside a callback, while the training loop
/// pushes reports; so the display runs on its own task, <see cref="Report"/> only stores the
/// latest report and <see cref="Message"/> queues lines that the display task prints, keeping
/// the training thread free of console writes.
/// </remarks>
internal sealed class LiveProgressReporter : IProgressReporter
{
    private static readonly TimeSpan s_refresh = TimeSpan.FromMilliseconds(200);

    private readonly IAnsiConsole _console;
    private readonly ConcurrentQueue<string> _messages = new();
    private readonly CancellationTokenSource _stop = new();
    // A report is several words wide, so the display task reads it under the lock to avoid a torn read.
    private readonly Lock _gate = new();
    private StepReport? _latest;
    private Task? _display;

    /// <summary>Creates the reporter on <paramref name="console"/> (default: <see cref="AnsiConsole.Console"/>).</summary>
    public LiveProgressReporter(IAnsiConsole? console = null)
    {
        _console = console ?? AnsiConsole.Console;
    }

    /// <inheritdoc />
    public void Start(long totalSteps)
    {
        if (_display is not null)
        {
            return;
        }
        _display = _console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(
                new TaskDescriptionColumn { Alignment = Justify.Left },
                new ProgressBarColumn(),
                new PercentageColumn(),
                new ElapsedTimeColumn(),
                new RemainingTimeColumn())
            .StartAsync(context => RunAsync(context, totalSteps));
    }

    /// <inheritdoc />
    public void Report(StepReport report)
    {
        lock (_gate)
        {
            _latest = report;
        }
    }

    /// <inheritdoc />
    public void Message(string text)
    {
        if (_display is null)
        {
            _console.WriteLine(text);
            return;
        }
        _messages.Enqueue(text);
    }

    /// <inheritdoc />
    public void Complete()
    {
        if (_display is null || _stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _display.GetAwaiter().GetResult();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Complete();
        _stop.Dispose();
    }

    private async Task RunAsync(ProgressContext context, long totalSteps)
    {
        var task = context.AddTask("starting", maxValue: Math.Max(totalSteps, 1));
        while (true)
        {
            var stopping = _stop.IsCancellationRequested;
            while (_messages.TryDequeue(out var text))
            {
                _console.MarkupLine(Markup.Escape(text));
            }
            StepReport? latest;
            lock (_gate)
            {
                latest = _latest;
            }
            if (latest is { } report)
            {
                task.MaxValue = Math.Max(report.TotalSteps, 1);
                task.Value = report.Step;
                task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {report.Epoch} step {report.Step}/{report.TotalSteps} loss {report.Loss:F4} lr {ProgressFormat.LearningRate(report.Lr)} {report.SamplesPerSecond:F0} samples/s{ProgressFormat.NoiseScale(report.NoiseScale)}{ProgressFormat.Skipped(report.SkippedSteps)}"));
            }
            if (stopping)
            {
                task.StopTask();
                return;
            }
            try
            {
                await Task.Delay(s_refresh, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Loop once more to print the last report and the queued messages.
            }
        }
    }
}
