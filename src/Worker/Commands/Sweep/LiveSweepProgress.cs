using System.Collections.Concurrent;
using Adan.Worker.Progress;
using Adan.Worker.Telemetry;
using Spectre.Console;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Two Spectre.Console bars for a terminal: runs done of all with the sweep's time left, and the current run's steps;
/// the lines of ended runs scroll above them.
/// </summary>
/// <remarks>As in <see cref="LiveProgressReporter"/>, the display owns the console from its own task and the sweep only posts state.</remarks>
internal sealed class LiveSweepProgress(IAnsiConsole console) : ISweepProgress
{
    private static readonly TimeSpan s_refresh = TimeSpan.FromMilliseconds(200);

    private readonly ConcurrentQueue<string> _messages = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private int _total;
    private int _done;
    private string _run = "starting";
    private StepMetrics? _step;
    private TimeSpan? _eta;
    private Task? _display;

    /// <inheritdoc />
    public void Start(int total)
    {
        _total = total;
        _display = console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(RunAsync);
    }

    /// <inheritdoc />
    public void RunStarted(int index, PlannedRun run)
    {
        lock (_gate)
        {
            _run = $"[{index}/{_total}] {run.Name}";
            _step = null;
        }
        _messages.Enqueue($"[{index}/{_total}] {run.Name}: {SweepText.Started(run)}");
    }

    /// <inheritdoc />
    public void RunProgress(StepMetrics step, TimeSpan? eta)
    {
        lock (_gate)
        {
            (_step, _eta) = (step, eta);
        }
    }

    /// <inheritdoc />
    public void RunEnded(int index, PlannedRun run, string summary)
    {
        lock (_gate)
        {
            _done++;
        }
        _messages.Enqueue($"[{index}/{_total}] {run.Name}: {summary}");
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

    private async Task RunAsync(ProgressContext context)
    {
        var runs = context.AddTask("runs", maxValue: Math.Max(_total, 1));
        var current = context.AddTask("starting", maxValue: 1);
        while (true)
        {
            var stopping = _stop.IsCancellationRequested;
            while (_messages.TryDequeue(out var text))
            {
                console.MarkupLine(Markup.Escape(text));
            }
            lock (_gate)
            {
                runs.Value = _done;
                runs.Description = Markup.Escape($"runs {_done}/{_total}, sweep eta {ProgressFormat.Duration(_eta)}");
                if (_step is { } step)
                {
                    current.MaxValue = Math.Max(step.TotalSteps, 1);
                    current.Value = step.Step;
                    current.Description = Markup.Escape($"{_run} {SweepText.Step(step)}");
                }
                else
                {
                    current.Value = 0;
                    current.Description = Markup.Escape(_run);
                }
            }
            if (stopping)
            {
                runs.StopTask();
                current.StopTask();
                return;
            }
            try
            {
                await Task.Delay(s_refresh, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Draw once more, so the last state and messages stay on screen.
            }
        }
    }
}
