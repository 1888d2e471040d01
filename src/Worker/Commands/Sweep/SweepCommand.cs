using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Adan.Sharded.IO;
using Adan.Sharded.Schedules;
using Adan.Worker.Config;
using Adan.Worker.Processes;
using Adan.Worker.Progress;
using Adan.Worker.Telemetry;
using Adan.Worker.Training;
using Spectre.Console;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// <c>adan sweep --config FILE --batch-sizes 128,512,... --optimizers adan,adamw --epochs E --out DIR</c>: trains every
/// (batch, optimizer) pair for the same epochs as one <c>adan launch</c> each, keeps each run's result as soon as it
/// ends, and writes the tables, report and plots of how each optimizer tolerates large batches.
/// </summary>
/// <remarks>
/// Run again with the same flags, it skips the runs that finished with the same settings and retries the rest.
/// SIGINT or SIGTERM ends the current launch, records it as interrupted, writes the outputs for what finished, and
/// exits 130 or 143. A failed run is recorded with its error and the sweep goes on; the exit code is then 1.
/// </remarks>
internal static class SweepCommand
{
    /// <summary>The directory of the per-run directories inside <c>--out</c>.</summary>
    public const string RunsDirectory = "runs";

    /// <summary>Builds the <c>sweep</c> command.</summary>
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "Sweep file: a base TrainConfig section and one section per optimizer (see deploy/configs/sweep-fashion-mlp.json)", Required = true };
        var batches = new Option<string>("--batch-sizes") { Description = "Global batch sizes, comma-separated (e.g. 128,512,2048,8192)", Required = true };
        var optimizers = new Option<string>("--optimizers") { Description = "Optimizers, comma-separated (e.g. adan,adamw)", Required = true };
        var scaling = new Option<string>("--lr-scaling") { Description = "How each optimizer's lr scales from its base_batch: sqrt | linear | none", DefaultValueFactory = _ => "sqrt" };
        scaling.AcceptOnlyFromAmong([.. Enum.GetValues<LearningRateScaling>().Select(ConfigBinder.Name)]);
        var epochs = new Option<int>("--epochs") { Description = "Epochs of every run (the same sample budget for every batch)", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory for the runs, results.json/.csv, report.md and the plots", Required = true };
        var ranks = new Option<int>("-n", "--ranks") { Description = "Ranks per run", DefaultValueFactory = _ => 1 };
        var hostfile = new Option<FileInfo?>("--hostfile") { Description = "MPICH hostfile, passed to adan launch" };
        var maxMicro = new Option<int>("--max-micro-batch") { Description = "Largest micro-batch per rank; larger batches accumulate", DefaultValueFactory = _ => 256 };
        var warmup = new Option<double>("--warmup-epochs") { Description = "Linear warm-up in epochs (steps = round(epochs × steps per epoch))", DefaultValueFactory = _ => 1.0 };
        var seeds = new Option<int>("--seeds") { Description = "Runs per (batch, optimizer), seeds base+0, base+1, …; tables show the median and range", DefaultValueFactory = _ => 1 };
        var valSplit = new Option<int>("--val-split") { Description = "Training samples held out for validation in every run (choices are made on them; the test set is only reported)", DefaultValueFactory = _ => 0 };
        var evalEverySamples = new Option<long>("--eval-every-samples") { Description = "Evaluate every S training samples (the same cadence at every batch)", DefaultValueFactory = _ => 0 };
        var target = new Option<string?>("--target") { Description = "Time runs to a validation target, e.g. val_accuracy=0.88 or val_loss=0.35 (warm-up then constant lr)" };
        var stopAtTarget = new Option<bool>("--stop-at-target") { Description = "End each run where it reaches --target (--epochs is then the cap)" };
        var lrGrid = new Option<string?>("--lr-grid") { Description = "Search the learning rate: multipliers of each optimizer's rule-scaled lr, e.g. 0.25,0.5,1,2,4 (chosen on validation)" };
        var finalists = new Option<int>("--finalists") { Description = "Grid points per (batch, optimizer) run with every seed after the one-seed first stage", DefaultValueFactory = _ => 2 };
        var command = new Command("sweep", "Train every (batch size, optimizer) pair for the same epochs and report the accuracy lost to large batches.")
        {
            config, batches, optimizers, scaling, epochs, output, ranks, hostfile, maxMicro, warmup, seeds, valSplit, evalEverySamples, target, stopAtTarget,
            lrGrid, finalists,
        };
        command.SetAction(r =>
        {
            var settings = new SweepSettings(
                Batches(r.GetValue(batches)!), Optimizers(r.GetValue(optimizers)!),
                Enum.GetValues<LearningRateScaling>().Single(s => ConfigBinder.Name(s) == r.GetValue(scaling)),
                r.GetValue(epochs), r.GetValue(ranks), r.GetValue(maxMicro), r.GetValue(warmup))
            {
                Seeds = r.GetValue(seeds),
                ValSplit = r.GetValue(valSplit),
                EvalEverySamples = r.GetValue(evalEverySamples),
                Target = r.GetValue(target) is { } text ? MetricTarget.Parse(text) : null,
                StopAtTarget = r.GetValue(stopAtTarget),
                LrGrid = r.GetValue(lrGrid) is { } grid ? Multipliers(grid) : null,
                Finalists = r.GetValue(finalists),
            };
            return Run(SweepConfig.Load(r.GetValue(config)!.FullName), settings, r.GetValue(output)!, r.GetValue(hostfile));
        });
        return command;
    }

    private static int Run(SweepConfig config, SweepSettings settings, DirectoryInfo output, FileInfo? hostfile)
    {
        Check(settings.Epochs >= 1, $"--epochs {settings.Epochs}: must be ≥ 1");
        Check(settings.WorldSize >= 1, $"-n {settings.WorldSize}: the number of ranks must be ≥ 1");
        Check(settings.MaxMicroBatch >= 1, $"--max-micro-batch {settings.MaxMicroBatch}: must be ≥ 1");
        Check(double.IsFinite(settings.WarmupEpochs) && settings.WarmupEpochs >= 0,
            $"--warmup-epochs {settings.WarmupEpochs.ToString(CultureInfo.InvariantCulture)}: must be a finite number ≥ 0");
        Check(hostfile is not { Exists: false }, $"--hostfile {hostfile?.FullName}: no such file");
        Check(settings.Seeds is >= 1 and <= 100, $"--seeds {settings.Seeds}: must be between 1 and 100");
        Check(settings.ValSplit >= 0, $"--val-split {settings.ValSplit}: must be ≥ 0");
        Check(settings.EvalEverySamples >= 0, $"--eval-every-samples {settings.EvalEverySamples}: must be ≥ 0");
        Check(settings.Target is null || settings.ValSplit > 0, "--target needs --val-split N: a target is judged on validation, never on the test set");
        Check(settings.Target is null || settings.EvalEverySamples > 0, "--target needs --eval-every-samples S, so that each run can be seen reaching it");
        Check(!settings.StopAtTarget || settings.Target is not null, "--stop-at-target needs --target metric=value");
        Check(settings.LrGrid is null || settings.ValSplit > 0, "--lr-grid needs --val-split N: the learning rate is chosen on validation, never on the test set");
        Check(settings.LrGrid is null || (settings.Finalists >= 1 && settings.Finalists <= settings.Multipliers.Count),
            $"--finalists {settings.Finalists}: must be between 1 and the {settings.Multipliers.Count} point(s) of --lr-grid");
        var runs = SweepPlanner.Plan(config, settings);

        // The sweep ends the current launch and writes its outputs itself before it exits.
        using var stop = new StopSignals();

        output.Create();
        var launcher = new RunLauncher(settings.WorldSize, hostfile, TimeProvider.System);
        var outcome = LearningRateSearch.Run(runs, settings, stage => Execute(stage, launcher, output, stop));
        var results = outcome.Results;

        SweepTables.Write(output.FullName, results, outcome.IsChosen);
        AtomicFile.WriteAllText(Path.Combine(output.FullName, "report.md"), SweepReport.Markdown(settings, outcome));
        SweepPlots.Write(output.FullName, settings, outcome.ChosenResults);
        var failed = results.Count(r => r.Status == RunStatus.Failed);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sweep: {results.Count(r => r.Status == RunStatus.Finished)} of {results.Count} runs finished, {failed} failed; report: {Path.Combine(output.FullName, "report.md")}"));
        if (stop.Received is { } signal)
        {
            Console.Error.WriteLine($"adan sweep: stopped by {signal}; run the same command again to continue");
            return stop.ExitCode;
        }
        if (failed > 0)
        {
            Console.Error.WriteLine($"adan sweep: {failed} run(s) failed: {string.Join(", ", results.Where(r => r.Status == RunStatus.Failed).Select(r => $"{r.Batch}-{r.Optimizer}{(settings.LrGrid is null ? "" : $"-lr{r.LrMultiplier.ToString(CultureInfo.InvariantCulture)}")}"))}; see results.csv and runs/*/output.log");
            return ExitCodes.Failure;
        }
        return ExitCodes.Success;
    }

    /// <summary>Executes <paramref name="runs"/> one after the other, skipping those finished earlier; their results in order.</summary>
    private static IReadOnlyList<RunResult> Execute(IReadOnlyList<PlannedRun> runs, RunLauncher launcher, DirectoryInfo output, StopSignals stop)
    {
        var results = new List<RunResult>();
        using (var progress = Console.IsOutputRedirected ? new PlainSweepProgress(Console.Out) : (ISweepProgress)new LiveSweepProgress(AnsiConsole.Console))
        {
            progress.Start(runs.Count);
            var directories = runs.Select(run => Path.Combine(output.FullName, RunsDirectory, run.Name)).ToList();
            var earlier = directories.Select(RunResultFile.Read).ToList();
            // The ETA counts samples, not steps: every run has the same sample budget, while its steps shrink as its
            // batch grows (a step-based ETA was off by 3x across a 256..8192 sweep).
            var samplesToDo = runs.Where((run, i) => earlier[i]?.Finishes(run) != true).Sum(run => run.Samples);
            var samplesDone = 0L;
            var started = TimeProvider.System.GetTimestamp();
            for (var i = 0; i < runs.Count; i++)
            {
                var run = runs[i];
                if (earlier[i] is { } previous && previous.Finishes(run))
                {
                    results.Add(previous);
                    progress.RunEnded(i + 1, run, "skipped (finished earlier)");
                    continue;
                }
                if (stop.Token.IsCancellationRequested)
                {
                    results.Add(earlier[i] ?? RunResult.Planned(run, RunStatus.Pending));
                    continue;
                }
                progress.RunStarted(i + 1, run);
                var done = samplesDone;
                var result = RunOne(launcher, run, directories[i], line => progress.RunProgress(line,
                    ProgressFormat.Eta(TimeProvider.System.GetElapsedTime(started), done + line.Step * run.Batch, samplesToDo - done - line.Step * run.Batch)), stop.Token);
                samplesDone += run.Samples;
                RunResultFile.Write(directories[i], result);
                results.Add(result);
                progress.RunEnded(i + 1, run, Describe(result, stop.Received));
            }
            progress.Complete();
        }
        return results;
    }

    /// <summary>Launches one run and turns its outcome and summary.json into its result.</summary>
    private static RunResult RunOne(RunLauncher launcher, PlannedRun run, string directory, Action<StepMetrics> progress, CancellationToken stop)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, RunLauncher.ConfigFileName), run.Config);
        // A summary left by an earlier attempt must not pass for this one's.
        var summaryPath = Path.Combine(directory, RunSummaryWriter.FileName);
        File.Delete(summaryPath);
        var outcome = launcher.RunAsync(run, directory, progress, stop).GetAwaiter().GetResult();
        var planned = RunResult.Planned(run, RunStatus.Failed) with { Curve = outcome.Curve };
        if (outcome.Interrupted)
        {
            return planned with { Status = RunStatus.Interrupted, Error = "stopped by a signal while it ran" };
        }
        if (outcome.ExitCode != ExitCodes.Success || !File.Exists(summaryPath))
        {
            var error = outcome.StderrTail.Count > 0 ? string.Join('\n', outcome.StderrTail) : $"adan launch exited with code {outcome.ExitCode} and no message";
            return planned with { Error = error };
        }
        var summary = RunSummaryWriter.Read(summaryPath);
        return planned with
        {
            Status = RunStatus.Finished,
            Steps = summary.Steps,
            Epochs = summary.Epochs,
            FinalTrainLoss = summary.FinalLoss,
            TestAccuracy = summary.TestAccuracy,
            TestLoss = summary.TestLoss,
            WallSeconds = summary.WallSeconds,
            SamplesPerSecond = summary.SamplesPerSecond,
            ValAccuracy = summary.ValAccuracy,
            ValLoss = summary.ValLoss,
            TargetReached = summary.Target?.Reached,
            TargetStep = summary.Target?.Step,
            TargetSamples = summary.Target?.Samples,
            NoiseScale = summary.GradientNoise?.Run?.BSimple,
            NoiseScaleCi95 = summary.GradientNoise?.Run?.BSimpleCi95,
        };
    }

    private static string Describe(RunResult result, PosixSignal? signal) =>
        result.Status switch
        {
            RunStatus.Finished => string.Create(CultureInfo.InvariantCulture,
                $"finished: {(result.TestAccuracy is { } accuracy ? $"test accuracy {accuracy * 100:F2} %" : $"test loss {result.TestLoss:F4}")}, {result.WallSeconds:F1} s"),
            RunStatus.Interrupted => $"interrupted by {signal}",
            _ => $"failed: {result.Error?.Split('\n')[^1]}",
        };

    private static IReadOnlyList<int> Batches(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Check(parts.Length > 0, $"--batch-sizes '{text}': give at least one global batch size (e.g. 128,512,2048)");
        var batches = new List<int>();
        foreach (var part in parts)
        {
            Check(int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var batch) && batch >= 1,
                $"--batch-sizes {part}: not a positive whole number");
            Check(!batches.Contains(batch), $"--batch-sizes {part}: given twice");
            batches.Add(batch);
        }
        return batches;
    }

    private static IReadOnlyList<double> Multipliers(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Check(parts.Length > 0, $"--lr-grid '{text}': give at least one multiplier of the scaled lr (e.g. 0.25,0.5,1,2,4)");
        var multipliers = new List<double>();
        foreach (var part in parts)
        {
            Check(double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var multiplier) && double.IsFinite(multiplier) && multiplier > 0,
                $"--lr-grid {part}: not a positive number");
            Check(!multipliers.Contains(multiplier), $"--lr-grid {part}: given twice");
            multipliers.Add(multiplier);
        }
        return multipliers;
    }

    private static IReadOnlyList<string> Optimizers(string text)
    {
        var names = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Check(names.Length > 0, $"--optimizers '{text}': give at least one of {string.Join(", ", SweepPlanner.OptimizerNames)}");
        var duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        Check(duplicate is null, $"--optimizers {duplicate?.Key}: given twice");
        return names;
    }

    private static void Check(bool condition, string problem)
    {
        if (!condition)
        {
            throw new UsageException(problem);
        }
    }
}
