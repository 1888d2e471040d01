using System.Collections.Concurrent;
using Adan.Sharded.Training.Progress;
using Adan.Sharded.Training.Telemetry;
using Spectre.Console;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Spectre.Console bars for a terminal: runs done of all with the sweep's time left, and one bar per running run with
/// its steps (as many bars as runs have run at once, the spare ones idle); the lines of started and ended runs scroll
/// above them.
/// </summary>
/// <remarks>As in <see cref="LiveProgressReporter"/>, the display owns the console from its own task and the sweep only posts state.</remarks>
internal sealed class LiveSweepProgress(IAnsiConsole console) : ISweepProgress
{
    private static readonly TimeSpan s_refresh = TimeSpan.FromMilliseconds(200);

    private readonly ConcurrentQueue<string> _messages = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private int _total;
    private readonly SortedDictionary<int, (string Name, StepMetrics? Step)> _running = [];
    private int _done;
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
    public void RunStarted(int index, PlannedRun run, LaunchSlice slice)
    {
        lock (_gate)
        {
            _running[index] = ($"[{index}/{_total}] {run.Name}", null);
        }
        _messages.Enqueue($"[{index}/{_total}] {run.Name}: {SweepText.Started(run, slice)}");
    }

    /// <inheritdoc />
    public void RunProgress(int index, PlannedRun run, StepMetrics step, TimeSpan? eta)
    {
        lock (_gate)
        {
            _running[index] = ($"[{index}/{_total}] {run.Name}", step);
            _eta = eta;
        }
    }

    /// <inheritdoc />
    public void RunEnded(int index, PlannedRun run, string summary)
    {
        lock (_gate)
        {
            _running.Remove(index);
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

    private static void Show(ProgressTask lane, (string Name, StepMetrics? Step) run)
    {
        if (run.Step is { } step)
        {
            lane.MaxValue = Math.Max(step.TotalSteps, 1);
            lane.Value = step.Step;
            lane.Description = Markup.Escape($"{run.Name} {SweepText.Step(step)}");
        }
        else
        {
            lane.Value = 0;
            lane.Description = Markup.Escape(run.Name);
        }
    }

    private async Task RunAsync(ProgressContext context)
    {
        var runs = context.AddTask("runs", maxValue: Math.Max(_total, 1));
        List<ProgressTask> lanes = [context.AddTask("starting", maxValue: 1)];
        // A run keeps its bar while it runs; a new run takes the first bar no running run holds.
        var laneOf = new Dictionary<int, int>();
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
                foreach (var ended in laneOf.Keys.Where(index => !_running.ContainsKey(index)).ToList())
                {
                    laneOf.Remove(ended);
                }
                foreach (var index in _running.Keys.Where(index => !laneOf.ContainsKey(index)))
                {
                    var free = Enumerable.Range(0, lanes.Count + 1).First(lane => !laneOf.ContainsValue(lane));
                    if (free == lanes.Count)
                    {
                        lanes.Add(context.AddTask("starting", maxValue: 1));
                    }
                    laneOf[index] = free;
                }
                for (var lane = 0; lane < lanes.Count; lane++)
                {
                    var holder = laneOf.Where(pair => pair.Value == lane).Select(pair => (int?)pair.Key).SingleOrDefault();
                    Show(lanes[lane], holder is { } index ? _running[index] : ("idle", null));
                }
            }
            if (stopping)
            {
                runs.StopTask();
                lanes.ForEach(lane => lane.StopTask());
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
