using Adan.Sharded.Training.Processes;
using System.Diagnostics;
using Adan.Worker.Processes;
using Adan.Sharded.Training.Progress;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Runs one planned run on its <see cref="LaunchSlice"/> as <c>[taskset -c CPUS] adan launch -n W [--hostfile F] --
/// train --config FILE --set ... [--set threads=N]</c> with the same <c>adan</c> executable, logs its output to
/// <c>output.log</c>, reads its loss curve from the step records of its <c>metrics.jsonl</c> (<see cref="MetricsLog"/>;
/// never from the progress lines, which are for people) and, when the sweep is stopped, ends it: SIGTERM to the
/// launcher and every process under it, SIGKILL to what is left after <see cref="GracePeriod"/>.
/// </summary>
internal sealed class RunLauncher(LaunchSlice slice, TimeProvider time)
{
    /// <summary>What the ranks and the launcher get to end on their own after SIGTERM.</summary>
    public static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(10);

    /// <summary>The stderr lines kept as a failed run's error.</summary>
    public const int StderrLines = 8;

    /// <summary>The run's log of everything the launch printed, inside its directory.</summary>
    public const string LogFileName = "output.log";

    /// <summary>The run's config file, inside its directory.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>Launches <paramref name="run"/> in <paramref name="runDirectory"/> and waits for it or for <paramref name="stop"/>.</summary>
    /// <param name="run">The run.</param>
    /// <param name="runDirectory">Its directory (the trainer's run_dir).</param>
    /// <param name="progress">Called with each step record as the run writes it.</param>
    /// <param name="stop">Cancelled when the sweep is told to stop.</param>
    public async Task<RunOutcome> RunAsync(PlannedRun run, string runDirectory, Action<StepMetrics> progress, CancellationToken stop)
    {
        var adan = Environment.ProcessPath ?? "adan";
        var pinned = slice.Cpus is not null && CpuPinning.Taskset is not null;
        var psi = new ProcessStartInfo(pinned ? CpuPinning.Taskset! : adan)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        // taskset execs adan in its own process, so the launcher's pid is still the root of the run's process tree.
        IEnumerable<string> prefix = pinned ? ["-c", CpuPinning.Format(slice.Cpus!), adan] : [];
        foreach (var argument in prefix.Concat(Arguments(run, runDirectory)))
        {
            psi.ArgumentList.Add(argument);
        }
        // The run's output goes to its log, where a live display meant for a terminal would be unreadable.
        psi.Environment.Remove(ProgressReporterFactory.TerminalVariable);

        var metricsPath = Path.Combine(runDirectory, MetricsLog.FileName);
        // A file left by an earlier attempt in this directory must not pass for this run's records.
        File.Delete(metricsPath);
        var metricsOffset = 0L;
        var tail = new Queue<string>();
        await using var log = new StreamWriter(Path.Combine(runDirectory, LogFileName), append: false);
        var gate = new Lock();
        using var process = Process.Start(psi) ?? throw new IOException($"cannot start {psi.FileName}");
        process.StandardInput.Close();
        var stdout = PumpAsync(process.StandardOutput, line =>
        {
            lock (gate)
            {
                log.WriteLine(line);
            }
            // The trainer writes a step's record before it prints the step, so any line it prints wakes the reader
            // after the records before it are in the file.
            metricsOffset = MetricsLog.ReadNewSteps(metricsPath, metricsOffset, progress);
        });
        var stderr = PumpAsync(process.StandardError, line =>
        {
            lock (gate)
            {
                log.WriteLine(line);
                tail.Enqueue(line);
                if (tail.Count > StderrLines)
                {
                    tail.Dequeue();
                }
            }
        });

        var interrupted = false;
        try
        {
            await process.WaitForExitAsync(stop);
        }
        catch (OperationCanceledException)
        {
            interrupted = true;
            await EndAsync(process);
        }
        await Task.WhenAll(stdout, stderr);
        var curve = CurvePoint.Of(runDirectory);
        lock (gate)
        {
            return new RunOutcome(process.ExitCode, interrupted, curve, [.. tail]);
        }
    }

    /// <summary>The launcher's command line, after the executable.</summary>
    public IReadOnlyList<string> Arguments(PlannedRun run, string runDirectory)
    {
        var arguments = new List<string> { "launch", "-n", run.WorldSize.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (slice.Hostfile is not null)
        {
            arguments.AddRange(["--hostfile", slice.Hostfile]);
        }
        arguments.AddRange(["--", "train", "--config", Path.Combine(runDirectory, ConfigFileName)]);
        // The slice's threads are scheduling, not the plan: they stay out of the run's overrides, which decide whether a
        // finished run is skipped, and give way to threads the sweep file sets.
        var threads = slice.Threads is { } share && run.Threads == 0
            ? [string.Create(System.Globalization.CultureInfo.InvariantCulture, $"threads={share}")]
            : Array.Empty<string>();
        foreach (var setting in run.Overrides.Concat(threads).Append($"run_dir={runDirectory}"))
        {
            arguments.AddRange(["--set", setting]);
        }
        return arguments;
    }

    private async Task EndAsync(Process process)
    {
        var tree = ProcessTree.Descendants(process.Id).Prepend(process.Id).ToList();
        foreach (var pid in tree)
        {
            Signal.Terminate(pid);
        }
        using var grace = new CancellationTokenSource(GracePeriod, time);
        try
        {
            await process.WaitForExitAsync(grace.Token);
        }
        catch (OperationCanceledException)
        {
            // Past the grace period: what still runs is stuck, e.g. a rank waiting in a collective for one that left.
        }
        foreach (var pid in tree.Concat(process.HasExited ? [] : ProcessTree.Descendants(process.Id)))
        {
            ProcessTree.Kill(pid);
        }
        await process.WaitForExitAsync();
    }

    private static async Task PumpAsync(StreamReader reader, Action<string> onLine)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            onLine(line);
        }
    }
}
