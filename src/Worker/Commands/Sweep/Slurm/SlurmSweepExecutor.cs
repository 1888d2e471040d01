using Adan.Sharded.IO;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep.Slurm;

/// <summary>
/// Executes a stage of a sweep as one Slurm job array (<c>adan sweep --slurm</c>): every run that has no finishing
/// <c>result.json</c> becomes a task, and the sweep collects each task's result as it ends, from the run's exit file,
/// <c>summary.json</c> and <c>metrics.jsonl</c> (<see cref="RunCompletion"/>, as for a run launched here).
/// </summary>
/// <remarks>
/// <para>A rerun of the same command skips what finished, collects runs whose task ended while no sweep watched, and
/// follows tasks still queued or running (<see cref="SlurmTaskRecord"/>), so a sweep on a login node may be stopped and
/// started again without submitting anything twice. A run whose task leaves the queue without an exit code (cancelled,
/// past its time limit, its node lost) is failed, with the task's Slurm output named, and is submitted again by a rerun.</para>
/// <para>When the sweep is stopped (a signal) it cancels its arrays and records every run not ended as interrupted.</para>
/// </remarks>
internal sealed class SlurmSweepExecutor(string runsDirectory, SlurmSubmission submission, ISweepProgress progress, TimeProvider time, TimeSpan poll)
    : ISweepExecutor
{
    /// <summary>Polls in which a task may be missing from the queue with no exit file before it counts as lost (a shared file system's lag).</summary>
    private const int MissingPolls = 3;

    /// <summary>Consecutive squeue failures before the sweep stops waiting for the controller.</summary>
    private const int QueueFailures = 30;

    /// <inheritdoc />
    public IReadOnlyList<RunResult> Execute(IReadOnlyList<PlannedRun> runs, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var results = new RunResult?[runs.Count];
        var tracked = new List<Tracked>();
        var toSubmit = new List<int>();
        for (var i = 0; i < runs.Count; i++)
        {
            var directory = Path.Combine(runsDirectory, runs[i].Name);
            var earlier = RunResultFile.Read(directory);
            if (earlier is not null && earlier.Finishes(runs[i]))
            {
                results[i] = earlier;
                progress.RunEnded(i + 1, runs[i], "skipped (finished earlier)");
            }
            else if (Resumable(runs[i], directory) is { } record)
            {
                tracked.Add(new Tracked(i, directory, record));
            }
            else
            {
                toSubmit.Add(i);
            }
        }
        // A task that left the queue without an exit code while no sweep watched is submitted again (one squeue per job).
        var queues = tracked.Select(t => t.Record.Job).Distinct().ToDictionary(job => job, SlurmCli.Tasks);
        foreach (var lost in tracked.Where(t => !File.Exists(Path.Combine(t.Directory, SlurmTaskScript.ExitFileName))
            && queues[t.Record.Job] is { } queue && !queue.ContainsKey(t.Record.Task)).ToList())
        {
            tracked.Remove(lost);
            toSubmit.Add(lost.Index);
        }
        toSubmit.Sort();
        var eta = new SweepEta(tracked.Select(t => runs[t.Index].Samples).Sum() + toSubmit.Sum(i => runs[i].Samples), time);
        if (toSubmit.Count > 0 && !stop.IsCancellationRequested)
        {
            tracked.AddRange(Submit(runs, toSubmit, results, eta));
        }
        Follow(runs, tracked, results, eta, stop);
        return [.. results.Select((result, i) => result ?? RunResultFile.Read(Path.Combine(runsDirectory, runs[i].Name)) ?? RunResult.Planned(runs[i], RunStatus.Pending))];
    }

    /// <summary>The task an earlier sweep submitted <paramref name="run"/> as, when the directory still holds exactly this run.</summary>
    private static SlurmTaskRecord? Resumable(PlannedRun run, string directory)
    {
        if (SlurmTaskRecord.Read(directory) is not { } record)
        {
            return null;
        }
        var config = Path.Combine(directory, RunLauncher.ConfigFileName);
        var arguments = Path.Combine(directory, SlurmTaskScript.ArgumentsFileName);
        var same = File.Exists(config) && File.ReadAllText(config) == run.Config
            && File.Exists(arguments) && File.ReadAllBytes(arguments).AsSpan().SequenceEqual(SlurmTaskScript.Arguments(Settings(run, directory)));
        return same ? record : null;
    }

    /// <summary>Prepares each run's directory and submits them as one array; a refused submission fails them all.</summary>
    private List<Tracked> Submit(IReadOnlyList<PlannedRun> runs, List<int> indices, RunResult?[] results, SweepEta eta)
    {
        Directory.CreateDirectory(submission.Directory);
        var script = Path.Combine(submission.Directory, SlurmTaskScript.FileName);
        AtomicFile.WriteAllText(script, SlurmTaskScript.Text(submission.Adan, submission.BatchScript));
        var directories = new List<string>();
        foreach (var i in indices)
        {
            var directory = Path.Combine(runsDirectory, runs[i].Name);
            Directory.CreateDirectory(directory);
            AtomicFile.WriteAllText(Path.Combine(directory, RunLauncher.ConfigFileName), runs[i].Config);
            AtomicFile.WriteAllBytes(Path.Combine(directory, SlurmTaskScript.ArgumentsFileName), SlurmTaskScript.Arguments(Settings(runs[i], directory)));
            // Files of an earlier attempt must not pass for this one's.
            foreach (var stale in new[] { RunSummaryWriter.FileName, MetricsLog.FileName, SlurmTaskScript.ExitFileName, SlurmTaskRecord.FileName })
            {
                File.Delete(Path.Combine(directory, stale));
            }
            directories.Add(directory);
        }
        string job;
        try
        {
            job = SlurmCli.Submit(submission.Arguments(script, directories));
        }
        catch (IOException e)
        {
            foreach (var (i, directory) in indices.Zip(directories))
            {
                var failed = RunResult.Planned(runs[i], RunStatus.Failed) with { Error = e.Message, StartedAt = time.GetUtcNow(), EndedAt = time.GetUtcNow() };
                RunResultFile.Write(directory, failed);
                results[i] = failed;
                eta.End(i, runs[i].Samples);
                progress.RunEnded(i + 1, runs[i], RunCompletion.Describe(failed));
            }
            return [];
        }
        Console.Error.WriteLine($"adan sweep: submitted {indices.Count} run(s) as Slurm job array {job}; task outputs in {submission.Directory}");
        var submitted = new List<Tracked>();
        for (var k = 0; k < indices.Count; k++)
        {
            var record = new SlurmTaskRecord(job, k);
            record.Write(directories[k]);
            submitted.Add(new Tracked(indices[k], directories[k], record));
        }
        return submitted;
    }

    /// <summary>Polls the queue and the run directories until every tracked run ended or the sweep is stopped.</summary>
    private void Follow(IReadOnlyList<PlannedRun> runs, List<Tracked> tracked, RunResult?[] results, SweepEta eta, CancellationToken stop)
    {
        var failures = 0;
        while (tracked.Count > 0)
        {
            if (stop.IsCancellationRequested)
            {
                Interrupt(runs, tracked, results, eta);
                return;
            }
            var queues = new Dictionary<string, IReadOnlyDictionary<int, string>>();
            var answered = true;
            foreach (var job in tracked.Select(t => t.Record.Job).Distinct())
            {
                if (SlurmCli.Tasks(job) is { } tasks)
                {
                    queues[job] = tasks;
                }
                else
                {
                    answered = false;
                }
            }
            failures = answered ? 0 : failures + 1;
            if (failures >= QueueFailures)
            {
                throw new IOException($"squeue failed {QueueFailures} times in a row: the Slurm controller does not answer; run the same sweep again when it does (queued tasks go on meanwhile)");
            }
            foreach (var run in tracked.ToList())
            {
                var planned = runs[run.Index];
                run.ReadProgress(step => progress.RunProgress(run.Index + 1, planned, step, eta.Update(run.Index, step.Step * planned.Batch)));
                var exit = Path.Combine(run.Directory, SlurmTaskScript.ExitFileName);
                if (File.Exists(exit) && int.TryParse(File.ReadAllText(exit).Trim(), out var code))
                {
                    End(runs, run, Collect(planned, run, code, File.GetLastWriteTimeUtc(exit)), tracked, results, eta);
                    continue;
                }
                if (!queues.TryGetValue(run.Record.Job, out var queue))
                {
                    continue;
                }
                if (queue.TryGetValue(run.Record.Task, out var state))
                {
                    run.Missing = 0;
                    if (state is "RUNNING" or "COMPLETING" && run.StartedAt is null)
                    {
                        run.StartedAt = time.GetUtcNow();
                        progress.RunStarted(run.Index + 1, planned, LaunchSlice.Whole(null));
                    }
                }
                else if (++run.Missing >= MissingPolls)
                {
                    var lost = RunResult.Planned(planned, RunStatus.Failed) with
                    {
                        Curve = run.Curve(),
                        Error = $"Slurm task {run.Record} left the queue without an exit code (cancelled, past its time limit, or its node was lost); see {Path.Combine(submission.Directory, $"{run.Record}.out")} and {Path.Combine(run.Directory, RunLauncher.LogFileName)}",
                        StartedAt = run.StartedAt,
                        EndedAt = time.GetUtcNow(),
                    };
                    End(runs, run, lost, tracked, results, eta);
                }
            }
            if (tracked.Count > 0)
            {
                stop.WaitHandle.WaitOne(poll);
            }
        }
    }

    /// <summary>The result of a run whose task left its exit code.</summary>
    private RunResult Collect(PlannedRun planned, Tracked run, int code, DateTime ended)
    {
        var log = Path.Combine(run.Directory, RunLauncher.LogFileName);
        var tail = File.Exists(log) ? File.ReadLines(log).TakeLast(RunLauncher.StderrLines).ToList() : [];
        var outcome = new RunOutcome(code, Interrupted: false, run.Curve(), tail);
        return RunCompletion.Result(planned, outcome, run.Directory) with { StartedAt = run.StartedAt, EndedAt = new DateTimeOffset(ended) };
    }

    private void End(IReadOnlyList<PlannedRun> runs, Tracked run, RunResult result, List<Tracked> tracked, RunResult?[] results, SweepEta eta)
    {
        RunResultFile.Write(run.Directory, result);
        results[run.Index] = result;
        tracked.Remove(run);
        eta.End(run.Index, runs[run.Index].Samples);
        progress.RunEnded(run.Index + 1, runs[run.Index], RunCompletion.Describe(result));
    }

    /// <summary>Cancels the arrays of the runs not ended and records each as interrupted.</summary>
    private void Interrupt(IReadOnlyList<PlannedRun> runs, List<Tracked> tracked, RunResult?[] results, SweepEta eta)
    {
        SlurmCli.Cancel([.. tracked.Select(t => t.Record.Job).Distinct()]);
        foreach (var run in tracked.ToList())
        {
            var interrupted = RunResult.Planned(runs[run.Index], RunStatus.Interrupted) with
            {
                Curve = run.Curve(),
                Error = "stopped by a signal while it ran (its Slurm task was cancelled)",
                StartedAt = run.StartedAt,
                EndedAt = time.GetUtcNow(),
            };
            End(runs, run, interrupted, tracked, results, eta);
        }
    }

    /// <summary>The run's <c>--set</c> arguments for <c>adan train</c>: its plan's overrides and its directory.</summary>
    private static IEnumerable<string> Settings(PlannedRun run, string directory) => run.Overrides.Append($"run_dir={directory}");

    /// <summary>A run submitted or followed: its task, what the sweep has seen of it, and how far its metrics were read.</summary>
    private sealed class Tracked(int index, string directory, SlurmTaskRecord record)
    {
        private long _metricsOffset;

        public int Index { get; } = index;

        public string Directory { get; } = directory;

        public SlurmTaskRecord Record { get; } = record;

        public DateTimeOffset? StartedAt { get; set; }

        public int Missing { get; set; }

        /// <summary>Passes the step records written since the last call to <paramref name="onStep"/>.</summary>
        public void ReadProgress(Action<StepMetrics> onStep) =>
            _metricsOffset = MetricsLog.ReadNewSteps(Path.Combine(Directory, MetricsLog.FileName), _metricsOffset, onStep);

        public IReadOnlyList<CurvePoint> Curve() => CurvePoint.Of(Directory);
    }
}
