using System.Globalization;
using Adan.Sharded.IO;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Executes planned runs, one <c>adan launch</c> each, up to one per <see cref="LaunchSlice"/> at a time: each slice
/// takes the next run in plan order as its last one ends. A run's result is written to its <c>result.json</c> as soon
/// as it ends, and the results come back in plan order whatever order the runs ended in.
/// </summary>
/// <remarks>
/// A run whose <c>result.json</c> already finishes its plan (<see cref="RunResult.Finishes"/>) is skipped. When
/// <c>stop</c> is cancelled every running launch is ended and recorded as interrupted, and the runs not started
/// keep their earlier result or are pending. Nothing of a run's config depends on its slice but <c>threads</c>, which
/// is not part of its plan (see <see cref="RunLauncher.Arguments"/>).
/// </remarks>
internal sealed class SweepExecutor : ISweepExecutor
{
    private readonly string _runsDirectory;
    private readonly IReadOnlyList<LaunchSlice> _slices;
    private readonly ISweepProgress _progress;
    private readonly TimeProvider _time;

    /// <summary>An executor of runs in <paramref name="runsDirectory"/>, one per slice at a time.</summary>
    /// <param name="runsDirectory">The directory of the runs' directories (<c>--out/runs</c>); a run's is named <see cref="PlannedRun.Name"/>.</param>
    /// <param name="slices">The disjoint shares of the machines runs go to; one slice runs the runs one after another.</param>
    /// <param name="progress">Told of each run's start, steps and end, from several threads when runs go side by side.</param>
    /// <param name="time">The clock of the ETA and of each result's start and end.</param>
    public SweepExecutor(string runsDirectory, IReadOnlyList<LaunchSlice> slices, ISweepProgress progress, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(runsDirectory);
        ArgumentNullException.ThrowIfNull(slices);
        ArgumentOutOfRangeException.ThrowIfZero(slices.Count);
        _runsDirectory = runsDirectory;
        _slices = slices;
        _progress = progress;
        _time = time;
    }

    /// <inheritdoc />
    /// <remarks>One slice's runs start in plan order.</remarks>
    public IReadOnlyList<RunResult> Execute(IReadOnlyList<PlannedRun> runs, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var directories = runs.Select(run => Path.Combine(_runsDirectory, run.Name)).ToList();
        var earlier = directories.Select(RunResultFile.Read).ToList();
        var results = new RunResult?[runs.Count];
        var pending = new Queue<int>();
        for (var i = 0; i < runs.Count; i++)
        {
            if (earlier[i] is { } previous && previous.Finishes(runs[i]))
            {
                results[i] = previous;
                _progress.RunEnded(i + 1, runs[i], "skipped (finished earlier)");
            }
            else
            {
                pending.Enqueue(i);
            }
        }
        var eta = new SweepEta(pending.Sum(i => runs[i].Samples), _time);
        var lanes = _slices.Select(slice => RunSliceAsync(slice, runs, directories, pending, results, eta, stop)).ToArray();
        Task.WhenAll(lanes).GetAwaiter().GetResult();
        return [.. results.Select((result, i) => result ?? earlier[i] ?? RunResult.Planned(runs[i], RunStatus.Pending))];
    }

    /// <summary>Takes the next pending run until none is left or the sweep is stopped, and runs it on <paramref name="slice"/>.</summary>
    private async Task RunSliceAsync(LaunchSlice slice, IReadOnlyList<PlannedRun> runs, IReadOnlyList<string> directories, Queue<int> pending,
        RunResult?[] results, SweepEta eta, CancellationToken stop)
    {
        var launcher = new RunLauncher(slice, _time);
        while (!stop.IsCancellationRequested && Next(pending) is { } i)
        {
            var run = runs[i];
            _progress.RunStarted(i + 1, run, slice);
            var started = _time.GetUtcNow();
            var result = await RunOneAsync(launcher, run, directories[i],
                step => _progress.RunProgress(i + 1, run, step, eta.Update(i, step.Step * run.Batch)), stop);
            result = result with { StartedAt = started, EndedAt = _time.GetUtcNow() };
            eta.End(i, run.Samples);
            RunResultFile.Write(directories[i], result);
            results[i] = result;
            _progress.RunEnded(i + 1, run, RunCompletion.Describe(result));
        }
    }

    private static int? Next(Queue<int> pending)
    {
        lock (pending)
        {
            return pending.TryDequeue(out var i) ? i : null;
        }
    }

    /// <summary>Launches one run and turns its outcome and summary.json into its result.</summary>
    private static async Task<RunResult> RunOneAsync(RunLauncher launcher, PlannedRun run, string directory, Action<StepMetrics> progress, CancellationToken stop)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, RunLauncher.ConfigFileName), run.Config);
        // A summary left by an earlier attempt must not pass for this one's.
        var summaryPath = Path.Combine(directory, RunSummaryWriter.FileName);
        File.Delete(summaryPath);
        var outcome = await launcher.RunAsync(run, directory, progress, stop);
        return RunCompletion.Result(run, outcome, directory);
    }
}
