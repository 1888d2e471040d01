using System.CommandLine;
using System.Globalization;
using Adan.Sharded.IO;
using Adan.Sharded.Schedules;
using Adan.Worker.Commands.Sweep.Slurm;
using Adan.Sharded.Training.Config;
using Adan.Worker.Launch;
using Adan.Worker.Processes;
using Adan.Sharded.Training;
using Spectre.Console;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// <c>adan sweep --config FILE --batch-sizes 128,512,... --optimizers adan,adamw --epochs E --out DIR [--parallel P]</c>: trains every
/// (batch, optimizer) pair for the same epochs as one <c>adan launch</c> each, keeps each run's result as soon as it
/// ends, and writes the tables, report and plots of how each optimizer tolerates large batches.
/// </summary>
/// <remarks>
/// With <c>--parallel P</c> up to P launches run at once on disjoint slices of the machines (<see cref="LaunchSlices"/>),
/// run by <see cref="SweepExecutor"/>; the outputs stay in plan order. Run again with the same flags (any
/// <c>--parallel</c>), it skips the runs that finished with the same settings and retries the rest. SIGINT or SIGTERM
/// ends every running launch, records each as interrupted, writes the outputs for what finished, and exits 130 or 143.
/// A failed run is recorded with its error and the sweep goes on; the exit code is then 1.
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
        var parallel = new Option<int>("--parallel")
        {
            Description = "Launches at once, each on its own slice: P groups of the --hostfile's hosts, or P slices of this machine's cores (threads = cores ÷ (P × ranks))",
            DefaultValueFactory = _ => 1,
        };
        var lrGrid = new Option<string?>("--lr-grid") { Description = "Search the learning rate: multipliers of each optimizer's rule-scaled lr, e.g. 0.25,0.5,1,2,4 (chosen on validation)" };
        var finalists = new Option<int>("--finalists") { Description = "Grid points per (batch, optimizer) run with every seed after the one-seed first stage", DefaultValueFactory = _ => 2 };
        var slurm = new Option<bool>("--slurm")
        {
            Description = "Submit each stage's runs as one Slurm job array (sbatch --array, one run per task, started as deploy/slurm.sbatch starts a job); --parallel P caps the tasks running at once",
        };
        var sbatchArgs = new Option<string[]>("--sbatch-arg")
        {
            Description = "An sbatch option for every task of the arrays, e.g. --sbatch-arg=--partition=gpu --sbatch-arg=--time=00:30:00 (repeatable; needs --slurm)",
            AllowMultipleArgumentsPerToken = false,
        };
        var slurmScript = new Option<FileInfo?>("--slurm-script") { Description = "The script that starts one run as a Slurm job (default: deploy/slurm.sbatch of this repository)" };
        var command = new Command("sweep", "Train every (batch size, optimizer) pair for the same epochs and report the accuracy lost to large batches.")
        {
            config, batches, optimizers, scaling, epochs, output, ranks, hostfile, maxMicro, warmup, seeds, valSplit, evalEverySamples, target, stopAtTarget,
            lrGrid, finalists, parallel, slurm, sbatchArgs, slurmScript,
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
            // A --finalists without a grid would be ignored, leaving the user to believe a search ran.
            Check(settings.LrGrid is not null || r.GetResult(finalists) is not { Implicit: false },
                "--finalists needs --lr-grid: finalists are the best grid points of the learning-rate search (e.g. --lr-grid 0.5,1,2 --finalists 2)");
            var sbatch = r.GetValue(sbatchArgs) ?? [];
            Check(r.GetValue(slurm) || (sbatch.Length == 0 && r.GetValue(slurmScript) is null),
                $"{(sbatch.Length > 0 ? "--sbatch-arg" : "--slurm-script")} needs --slurm: it shapes the Slurm job arrays the runs are submitted as");
            var cluster = r.GetValue(slurm)
                ? SlurmOptions(r.GetValue(slurmScript), sbatch, r.GetResult(parallel) is { Implicit: false } ? r.GetValue(parallel) : null, r.GetValue(hostfile), settings.WorldSize,
                    r.GetValue(output)!)
                : null;
            return Run(SweepConfig.Load(r.GetValue(config)!.FullName), settings, r.GetValue(output)!, r.GetValue(hostfile), r.GetValue(parallel), cluster);
        });
        return command;
    }

    private static int Run(SweepConfig config, SweepSettings settings, DirectoryInfo output, FileInfo? hostfile, int parallel, SlurmSubmission? slurm)
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
        Check(parallel >= 1, $"--parallel {parallel}: must be ≥ 1 (1 runs the launches one after another)");
        var runs = SweepPlanner.Plan(config, settings);
        // Slices are decided before anything is written, so that a --parallel the machines cannot hold is a usage error
        // with nothing started; one slice is today's sequential sweep, launched exactly as before.
        var hostGroups = slurm is null && parallel > 1 && hostfile is not null
            ? LaunchSlices.SplitHosts(Hostfile.Read(hostfile.FullName), parallel, settings.WorldSize, hostfile.FullName)
            : null;
        var coreSlices = slurm is null && parallel > 1 && hostfile is null
            ? LaunchSlices.OfCores(parallel, settings.WorldSize, Environment.ProcessorCount, CpuPinning.AllowedCpus(), pin: CpuPinning.Taskset is not null)
            : null;
        if (coreSlices is not null && LaunchSlices.Oversubscription(parallel, settings.WorldSize, Environment.ProcessorCount) is { } oversubscribed)
        {
            Console.Error.WriteLine($"adan sweep: {oversubscribed}");
        }
        if (coreSlices is [{ Cpus: null }, ..])
        {
            Console.Error.WriteLine("adan sweep: launches are not pinned to their cores (no taskset on PATH, or no CPU list); each still runs with its share of threads");
        }

        // The sweep ends every running launch and writes its outputs itself before it exits.
        using var stop = new StopSignals();

        output.Create();
        var slices = hostGroups is null
            ? coreSlices ?? [LaunchSlice.Whole(hostfile?.FullName)]
            : LaunchSlices.OfHosts(hostGroups, Path.Combine(output.FullName, LaunchSlices.HostfilesDirectory));
        var outcome = LearningRateSearch.Run(runs, settings, stage => Execute(stage, output, stop, progress => slurm is null
            ? new SweepExecutor(Path.Combine(output.FullName, RunsDirectory), slices, progress, TimeProvider.System)
            : new SlurmSweepExecutor(Path.Combine(output.FullName, RunsDirectory), slurm, progress, TimeProvider.System, SlurmPoll)));
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

    /// <summary>
    /// Executes <paramref name="runs"/> with the executor <paramref name="executor"/> makes for the display, skipping
    /// those finished earlier; their results in plan order.
    /// </summary>
    private static IReadOnlyList<RunResult> Execute(IReadOnlyList<PlannedRun> runs, DirectoryInfo output, StopSignals stop, Func<ISweepProgress, ISweepExecutor> executor)
    {
        IReadOnlyList<RunResult> results;
        using (var progress = Console.IsOutputRedirected ? new PlainSweepProgress(Console.Out) : (ISweepProgress)new LiveSweepProgress(AnsiConsole.Console))
        {
            progress.Start(runs.Count);
            results = executor(progress).Execute(runs, stop.Token);
            progress.Complete();
        }
        return results;
    }

    /// <summary>How often a sweep on Slurm looks at the queue and the runs' files.</summary>
    private static readonly TimeSpan SlurmPoll = TimeSpan.FromSeconds(2);

    /// <summary>The Slurm submission of <c>--slurm</c>, after checking that it can work here.</summary>
    private static SlurmSubmission SlurmOptions(FileInfo? script, IReadOnlyList<string> sbatchArguments, int? throttle, FileInfo? hostfile, int worldSize, DirectoryInfo output)
    {
        Check(hostfile is null, "--slurm takes each run's hosts from its task's allocation: drop --hostfile");
        Check(throttle is null or >= 1, $"--parallel {throttle}: must be ≥ 1 (with --slurm, the array's tasks running at once)");
        Check(ExecutableSearch.FindOnPath("sbatch") is not null, "--slurm: sbatch is not on PATH; run the sweep where Slurm's client is installed (a login node), or drop --slurm to run here");
        var batchScript = script?.FullName ?? DefaultBatchScript()
            ?? throw new UsageException("--slurm: deploy/slurm.sbatch is neither under the current directory nor above adan's; give --slurm-script PATH");
        Check(File.Exists(batchScript), $"--slurm-script {batchScript}: no such file");
        var adan = Environment.ProcessPath ?? throw new UsageException("--slurm: cannot tell where this adan executable is, which every task must run");
        return new SlurmSubmission(adan, batchScript, sbatchArguments, throttle, worldSize, Path.Combine(output.FullName, "slurm"));
    }

    /// <summary><c>deploy/slurm.sbatch</c> under the current directory, else in the first directory above adan's that has one.</summary>
    private static string? DefaultBatchScript()
    {
        var relative = Path.Combine("deploy", "slurm.sbatch");
        if (File.Exists(relative))
        {
            return Path.GetFullPath(relative);
        }
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

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
