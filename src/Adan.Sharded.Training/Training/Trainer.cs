using System.Diagnostics;
using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.IO;
using Adan.Sharded.Mpi;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;
using Adan.Sharded.Training.Progress;
using Adan.Sharded.Training.Telemetry;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// One rank's training run: the step loop over what <see cref="TrainingSetup"/> builds, with evaluation,
/// <see cref="Checkpointing"/>, progress and metrics, and the run records: on rank 0 <c>resolved-config.json</c> at the
/// start, <c>metrics.jsonl</c> as it goes (<see cref="MetricsLog"/>, mirrored to TensorBoard with <c>tensorboard_dir</c>)
/// and <c>summary.json</c> at the end.
/// </summary>
/// <remarks>
/// Preemption: the step's one scalar all-reduce carries the loss and whether any rank was asked to stop
/// (<see cref="PreemptionRequest"/>), so that every rank learns it after the same step, saves that step
/// (<see cref="Checkpointing.PreemptAsync"/>) and ends with <see cref="ExitCodes.Preempted"/>, the final evaluation skipped.
/// </remarks>
internal sealed class Trainer
{
    /// <summary>The config as bound (<see cref="ConfigBinder.ToJson"/>), written by rank 0 into the run directory at the start.</summary>
    public const string ResolvedConfigFileName = "resolved-config.json";

    private readonly TrainConfig _config;
    private readonly ICollective _collective;
    private readonly TextWriter _output;
    private readonly RankAbort _abort;
    private readonly TestFault? _fault;
    private readonly ComputeThreadsProbe _threads;
    private readonly int _threadCount;
    private readonly PreemptionRequest? _preemption;
    private readonly RunDefinition _definition;
    private readonly double[] _stepScalars = new double[2];

    /// <summary>
    /// A rank's run. Call <see cref="RunAsync"/> on the thread bound to <paramref name="threads"/> compute threads
    /// (<see cref="Adan.Sharded.Threading.ComputeThread"/>), which every await resumes on.
    /// </summary>
    /// <param name="config">The run's settings.</param>
    /// <param name="collective">The job's collective.</param>
    /// <param name="output">Where rank 0 prints.</param>
    /// <param name="abort">The job's abort path.</param>
    /// <param name="threads">The compute threads the run's thread is bound to.</param>
    /// <param name="threadDefaultsApplied">Whether the process's OpenMP/MKL defaults were set before libtorch loaded.</param>
    /// <param name="preemption">This rank's ear for SIGUSR1 and SIGTERM; null where signals do not stop the run.</param>
    /// <param name="definition">The model and data; the config's built-in ones when null.</param>
    public Trainer(TrainConfig config, ICollective collective, TextWriter output, RankAbort abort, int threads, bool threadDefaultsApplied,
        PreemptionRequest? preemption = null, RunDefinition? definition = null)
    {
        _definition = definition ?? RunDefinition.BuiltIn(config);
        _preemption = preemption;
        _threads = new ComputeThreadsProbe(threads, threadDefaultsApplied);
        _threadCount = threads;
        _config = config;
        _collective = collective;
        _output = output;
        _abort = abort;
        _fault = TestFault.ForRank(collective.Rank);
    }

    private int Rank => _collective.Rank;

    /// <summary>The run's summary (as rank 0 writes it to <c>summary.json</c>) once <see cref="RunAsync"/> returned; null before.</summary>
    public RunSummary? Summary { get; private set; }

    /// <summary>The final validation score, once <see cref="RunAsync"/> returned; null without a validation set or when preempted.</summary>
    public TaskScore? FinalValidation { get; private set; }

    /// <summary>The final test score, once <see cref="RunAsync"/> returned; null without a test set or when preempted.</summary>
    public TaskScore? FinalTest { get; private set; }

    /// <summary>The last checkpoint committed or resumed from; null when none.</summary>
    public string? LastCheckpoint { get; private set; }

    private int WorldSize => _collective.WorldSize;

    /// <summary>
    /// Trains, evaluates and, on rank 0, writes the run summary. Returns <see cref="ExitCodes.Success"/>, or
    /// <see cref="ExitCodes.Preempted"/> when a signal stopped the run and its checkpoint is committed.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public async Task<int> RunAsync()
    {
        // In a job every error ends the rank through the abort path, decided in this filter before anything below is
        // disposed: leaving the job or waiting for a background write on the way out would hide or delay the failure.
        try
        {
            var summary = new RunSummaryBuilder(TimeProvider.System);
            PrintHeader(_threadCount);
            WriteResolvedConfig();
            using var telemetry = TelemetrySetup.Start(_config.Telemetry, Rank);
            var metrics = new WorkerMetrics(Rank);
            using var run = TrainingSetup.Create(_config, _collective, _definition);
            metrics.OptimizerState(run.Optimizer.StateBytes);
            // Planned before the schedule, which continues the checkpoint's.
            using var checkpoints = Checkpointing.Plan(_config, _collective, run);
            var totalSteps = run.TotalSteps(checkpoints?.Resume);
            var schedule = TrainingSchedule.Create(_config, run.Sampler, WorldSize, checkpoints?.Resume, Rank == 0 ? _output : null);
            await using var link = await JobLink.ConnectAsync(_collective, schedule.Curve, _abort);
            if (link is not null)
            {
                schedule = schedule with { Curve = await link.ScheduleAsync() };
            }
            checkpoints?.Record(schedule);
            checkpoints?.OpenCatalog(link);
            if (checkpoints?.StagingBytes > 0)
            {
                summary.Staging(checkpoints.StagingBytes);
                if (Rank == 0)
                {
                    _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"checkpoint staging: {checkpoints.StagingBytes / 1e6:F1} MB per rank ({checkpoints.StagingPurpose})"));
                }
            }
            var (startStep, lastLoss) = Resume(checkpoints, summary);
            using var metricsLog = Rank == 0
                ? MetricsLog.Open(_config.RunDir, startStep, _config.LogEvery,
                    _config.ResolvedTensorboardDir is { } tensorBoard ? TensorBoardLog.Open(tensorBoard, _output, TimeProvider.System) : null)
                : null;

            using var progress = ProgressReporterFactory.Create(Rank, _config.LogEvery);
            progress.Start(totalSteps);
            run.Model.train();
            var target = new TargetTracking(_config.ParsedTarget(), _config.StopAtTarget,
                Rank == 0 && startStep > 0 ? MetricsLog.ReadEvaluations(Path.Combine(_config.RunDir, MetricsLog.FileName)) : []);
            var endStep = totalSteps;
            (long Step, TaskScore Score)? lastValidation = null;
            var gradientPeak = new GradientPeakProbe(run.Flat, startStep);
            var noise = new GradientNoiseTracking(_config.MicroBatch, run.Data.Train.Count, _config.GradientNoise,
                WorldSize > 1 || _config.Accumulation > 1
                    ? null
                    : "one rank without accumulation has no small-batch gradient to compare; run on 2 or more ranks, or with accumulation >= 2");
            summary.StartTraining();
            for (var step = startStep; step < totalSteps; step++)
            {
                using var activity = WorkerTelemetry.ActivitySource.StartActivity("train.step");
                _fault?.BeforeStep(step, _preemption);
                _threads.Observe();
                var stepStart = Stopwatch.GetTimestamp();
                gradientPeak.BeforeStep(step);
                var (epoch, localLoss) = ForwardBackward(run);
                var backwardDone = Stopwatch.GetTimestamp();
                var lr = schedule.LearningRateAt(step);
                run.Optimizer.SetLearningRate(lr);
                var applied = run.Optimizer.Step(_config.Accumulation);
                gradientPeak.AfterStep(step);
                noise.Observe(run.Optimizer.Sharded.LastNoiseSample, epoch);
                summary.Step(Stopwatch.GetElapsedTime(stepStart, backwardDone), Stopwatch.GetElapsedTime(backwardDone), run.Optimizer.LastCommunication,
                    run.Optimizer.LastCommunicationBusy, run.Sampler.GlobalBatch);
                _stepScalars[0] = localLoss;
                _stepScalars[1] = _preemption?.IsRequested == true ? 1 : 0;
                _collective.AllReduce(_stepScalars, ReduceOp.Average);
                lastLoss = _stepScalars[0];
                var preempted = _stepScalars[1] > 0;
                link?.ReportStep(step + 1);

                metrics.Step(Stopwatch.GetElapsedTime(stepStart), run.Sampler.GlobalBatch, lastLoss, lr, applied);
                if (noise.Moving is { } bSimple)
                {
                    metrics.NoiseScale(bSimple);
                }
                metrics.Collective("gradients", run.GradientSync.ReducedBytes, run.Optimizer.LastCommunication);
                if (metricsLog?.Logs(step + 1, totalSteps) == true)
                {
                    // Before the progress line: a reader woken by that line finds the record already there.
                    metricsLog.Write(noise.Annotate(new StepMetrics(step + 1, epoch, totalSteps, schedule.SamplesBefore(step + 1), lastLoss, lr,
                        applied ? run.Optimizer.Sharded.LastGradNorm : null, summary.SamplesPerSecond, run.Optimizer.SkippedSteps)));
                }
                progress.Report(new StepReport(epoch, step + 1, totalSteps, lastLoss, lr, summary.SamplesPerSecond, run.Optimizer.SkippedSteps, noise.Moving));
                if (checkpoints is not null)
                {
                    foreach (var saved in await checkpoints.AfterStepAsync(step + 1, totalSteps, lastLoss))
                    {
                        Saved(saved, metrics, summary, progress, metricsLog);
                    }
                    link?.MarkProgress();
                    run.Model.train();
                }
                if (preempted && step + 1 < totalSteps)
                {
                    progress.Message($"preemption{(_preemption?.SignalName is { } signal ? $" ({signal} here)" : "")}: every rank stops after step {step + 1} and saves it");
                    return await PreemptAsync(run, checkpoints, step + 1, lastLoss, link, metrics, summary, progress, metricsLog, gradientPeak, noise, telemetry);
                }
                if (EvaluationDue(step, schedule) && step + 1 < totalSteps && (run.Data.Validation ?? run.Data.Test) is { } evaluated)
                {
                    link?.MarkProgress();
                    var split = run.Data.Validation is not null ? EvalMetrics.ValidationSplit : EvalMetrics.TestSplit;
                    var data = evaluated;
                    var score = Evaluate(run, data);
                    var record = EvalRecord(step + 1, schedule.SamplesBefore(step + 1), score) with { Split = split };
                    lastValidation = split == EvalMetrics.ValidationSplit ? (step + 1, score) : null;
                    metricsLog?.Write(record);
                    progress.Message(FormatEvaluation(step + 1, score, split));
                    link?.MarkProgress();
                    run.Model.train();
                    if (target.Observe(record))
                    {
                        // Every rank sees the same all-reduced score, so every rank stops here.
                        progress.Message($"target {target.Target} reached at step {step + 1}: stopping (stop_at_target)");
                        endStep = step + 1;
                        break;
                    }
                }
            }
            link?.MarkProgress();
            if (checkpoints is not null && await checkpoints.CompleteAsync() is { } last)
            {
                Saved(last, metrics, summary, progress, metricsLog);
            }
            link?.MarkProgress();
            summary.EndTraining();
            summary.PeakGradientBytes(gradientPeak.MaxOverRanks(_collective));
            summary.ComputeThreads(_threads.Summarize(_collective));
            progress.Complete();
            Finish(run, summary, endStep, lastLoss, checkpoints?.Saves == true, telemetry, metricsLog, schedule.SamplesBefore(endStep), noise, target,
                lastValidation?.Step == endStep ? lastValidation.Value.Score : null);
            link?.MarkProgress();
            return ExitCodes.Success;
        }
        catch (Exception e) when (_abort.Fail(e))
        {
            throw new UnreachableException();
        }
    }

    /// <summary>
    /// The end of a preempted run: every rank saves <paramref name="step"/> and waits for its commit, then rank 0 writes
    /// the summary with where it stopped and how to resume; no final evaluation, which would only delay the save's
    /// deadline.
    /// </summary>
    /// <remarks>Collective: every rank must call, after the same step.</remarks>
    private async Task<int> PreemptAsync(TrainingSetup run, Checkpointing? checkpoints, long step, double lastLoss, JobLink? link, WorkerMetrics metrics,
        RunSummaryBuilder summary, IProgressReporter progress, MetricsLog? metricsLog, GradientPeakProbe gradientPeak, GradientNoiseTracking noise,
        IDisposable telemetry)
    {
        if (checkpoints is null)
        {
            throw new InvalidOperationException("preempted, but this optimizer has no sharded state to checkpoint");
        }
        link?.MarkProgress();
        SavedCheckpoint? last = null;
        foreach (var saved in await checkpoints.PreemptAsync(step, lastLoss))
        {
            Saved(saved, metrics, summary, progress, metricsLog);
            last = saved;
        }
        link?.MarkProgress();
        summary.EndTraining();
        summary.PeakGradientBytes(gradientPeak.MaxOverRanks(_collective));
        summary.ComputeThreads(_threads.Summarize(_collective));
        progress.Complete();
        var checkpoint = last?.Directory ?? throw new InvalidOperationException($"preempted after step {step}, but no checkpoint of it was committed");
        var result = summary.Build(WorldSize, step, run.Sampler.BatchesPerEpoch, lastLoss, (null, double.NaN), run.Definition.ModelName,
            run.Sampler.GlobalBatch, run.Optimizer, (int)_config.ZeroStage, savesCheckpoints: true) with
        {
            TestLoss = null,
            GradientNoise = noise.Summary(),
            Precision = PrecisionOf(run),
            Preempted = new PreemptionSummary(step, checkpoint, "resume=latest"),
        };
        Summary = result;
        LastCheckpoint = checkpoint;
        telemetry.Dispose();
        if (Rank == 0)
        {
            _output.WriteLine($"preempted: checkpoint of step {step} committed at {checkpoint}; the same command with --set resume=latest continues from it");
            var path = RunSummaryWriter.Write(_config.RunDir, result);
            _output.WriteLine($"summary: {Path.GetFullPath(path)}");
        }
        return ExitCodes.Preempted;
    }

    private PrecisionSummary PrecisionOf(TrainingSetup run) =>
        new(ConfigBinder.Name(_config.Precision), ConfigBinder.Name(_config.ReduceDtype), run.Optimizer.Sharded.GatheredBytes, run.GradientSync.ReducedBytes,
            Adan.Sharded.Precision.CpuBf16Support.Current);

    /// <summary>On rank 0, the config as bound into <c>run_dir/resolved-config.json</c>, replaced whole.</summary>
    private void WriteResolvedConfig()
    {
        if (Rank == 0)
        {
            Directory.CreateDirectory(_config.RunDir);
            AtomicFile.WriteAllText(Path.Combine(_config.RunDir, ResolvedConfigFileName), ConfigBinder.ToJson(_config));
        }
    }

    private static EvalMetrics EvalRecord(long step, long samplesSeen, TaskScore score) =>
        new(step, samplesSeen, score.Loss, score.Accuracy, score.Perplexity);

    private void PrintHeader(int threads)
    {
        if (Rank == 0)
        {
            // An application's rank names itself after its program.
            var name = _definition.IsBuiltIn ? "adan train" : Path.GetFileNameWithoutExtension(Environment.ProcessPath) ?? _definition.ModelName;
            _output.WriteLine($"{name}: {WorldSize} rank(s), {threads} thread(s) per rank, MPI {(WorldSize > 1 ? MpiLibrary.LoadedFrom : "not used")}");
            if (!_definition.IsBuiltIn)
            {
                _output.WriteLine($"model: {_definition.ModelName} (the application's own; the model, dataset and architecture keys below are not used)");
            }
            _output.WriteLine(_config.Describe());
        }
    }

    /// <summary>Loads the checkpoint the run resumes from, if any; returns the step to start at and the last loss.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private (long StartStep, double LastLoss) Resume(Checkpointing? checkpoints, RunSummaryBuilder summary)
    {
        if (checkpoints?.Resume is not { } resume)
        {
            return (0, double.NaN);
        }
        var restored = checkpoints.Restore();
        summary.Resumed(resume.Directory);
        if (Rank == 0)
        {
            _output.WriteLine(resume.Description);
        }
        return restored;
    }

    /// <summary>
    /// Draws the next global batch and runs forward and backward over its micro-batches, which add their gradients
    /// into the flat buffer; returns the epoch (1-based) and this rank's mean loss.
    /// </summary>
    private (int Epoch, double Loss) ForwardBackward(TrainingSetup run)
    {
        var indices = run.Sampler.Next(out var position);
        if (run.Data.TrainImages is { } images)
        {
            images.Epoch = (int)position.Epoch;
        }
        run.Flat.ZeroGrad();
        var lossSum = 0.0;
        for (var m = 0; m < _config.Accumulation; m++)
        {
            using var scope = NewDisposeScope();
            if (m == _config.Accumulation - 1 && run.GradientSync.OverlapsBackward)
            {
                // Only the last backward pass of the step communicates; the ones before only accumulate.
                run.GradientSync.Arm();
            }
            var (x, y) = run.Data.Train.Batch(indices.Slice(m * _config.MicroBatch, _config.MicroBatch));
            if (run.Device.type != TorchSharp.DeviceType.CPU)
            {
                // Batches are assembled in host memory; the model and its flat buffers live on the device.
                (x, y) = (x.to(run.Device), y.to(run.Device));
            }
            // call, not forward: the modules' hooks (overlapped gradient reduction) run only through call.
            var loss = run.Data.Task.Loss(run.Model.call(x), y);
            loss.backward();
            if (m < _config.Accumulation - 1)
            {
                // bf16-mixed: micro-batches accumulate in the fp32 master gradient (nothing under fp32).
                run.Flat.AccumulateGradients();
            }
            if (m == 0 && _config.Accumulation > 1)
            {
                // With one rank the first micro-batch's gradient is the noise scale's small batch (no-op on more ranks).
                run.Optimizer.Sharded.RecordSmallBatchGradient();
            }
            lossSum += loss.item<float>();
        }
        return ((int)position.Epoch + 1, lossSum / _config.Accumulation);
    }

    /// <summary>
    /// The final evaluations (the validation split when there is one, unless the last step was just validated; then the
    /// test set), then on rank 0 the last checkpoint and the summary, written to summary.json; the
    /// telemetry is flushed first, so that the summary line is the last thing rank 0 prints.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private void Finish(TrainingSetup run, RunSummaryBuilder summary, long totalSteps, double lastLoss, bool savesCheckpoints, IDisposable telemetry,
        MetricsLog? metricsLog, long samplesSeen, GradientNoiseTracking noise, TargetTracking target, TaskScore? validatedAtEnd)
    {
        var validationScore = validatedAtEnd;
        if (validationScore is null && run.Data.Validation is { } validation)
        {
            validationScore = Evaluate(run, validation);
            var record = EvalRecord(totalSteps, samplesSeen, validationScore) with { Split = EvalMetrics.ValidationSplit };
            metricsLog?.Write(record);
            target.Observe(record);
            if (Rank == 0)
            {
                _output.WriteLine(FormatEvaluation(totalSteps, validationScore, EvalMetrics.ValidationSplit));
            }
        }
        TaskScore? evaluation = null;
        if (run.Data.Test is { } test)
        {
            evaluation = Evaluate(run, test);
            metricsLog?.Write(EvalRecord(totalSteps, samplesSeen, evaluation));
            if (Rank == 0)
            {
                _output.WriteLine(FormatEvaluation(totalSteps, evaluation, EvalMetrics.TestSplit));
            }
        }
        var result = summary.Build(WorldSize, totalSteps, run.Sampler.BatchesPerEpoch, lastLoss, (evaluation?.Accuracy, evaluation?.Loss ?? double.NaN),
            run.Definition.ModelName, run.Sampler.GlobalBatch, run.Optimizer, (int)_config.ZeroStage, savesCheckpoints) with
        {
            TestLoss = evaluation?.Loss,
            GradientNoise = noise.Summary(),
            Precision = PrecisionOf(run),
            ValLoss = validationScore?.Loss,
            ValAccuracy = validationScore?.Accuracy,
            Target = target.Summary(),
        };
        Summary = result;
        FinalValidation = validationScore;
        FinalTest = evaluation;
        LastCheckpoint = summary.LastCheckpoint;
        telemetry.Dispose();
        if (Rank == 0)
        {
            if (summary.LastCheckpoint is not null)
            {
                _output.WriteLine($"checkpoint: {summary.LastCheckpoint}");
            }
            var path = RunSummaryWriter.Write(_config.RunDir, result);
            _output.WriteLine($"summary: {Path.GetFullPath(path)}");
        }
    }

    /// <summary>
    /// Whether an evaluation follows step <paramref name="step"/> (0-based): every <c>eval_every</c> steps, or after the
    /// first step at or past each multiple of <c>eval_every_samples</c> training samples.
    /// </summary>
    private bool EvaluationDue(long step, TrainingSchedule schedule) =>
        _config.EvalEvery > 0 ? (step + 1) % _config.EvalEvery == 0
        : _config.EvalEverySamples > 0 && schedule.SamplesBefore(step + 1) / _config.EvalEverySamples > schedule.SamplesBefore(step) / _config.EvalEverySamples;

    /// <summary>The task's score on <paramref name="data"/>, each rank scoring a slice, the sums reduced over ranks.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private TaskScore Evaluate(TrainingSetup run, IBatchDataset data)
    {
        ModelBuffers.Average(run.Model, _collective);
        run.Model.eval();
        var (start, count) = Evaluation.Shard(data.Count, Rank, WorldSize);
        double[] sums;
        using (no_grad())
        {
            sums = run.Data.Task.EvaluationSums(run.Model, data, start, count);
        }
        _collective.AllReduce(sums, ReduceOp.Sum);
        return run.Data.Task.Score(sums);
    }

    private static void Saved(SavedCheckpoint saved, WorkerMetrics metrics, RunSummaryBuilder summary, IProgressReporter progress, MetricsLog? metricsLog)
    {
        metricsLog?.Write(new CheckpointMetrics(saved.Step, saved.Bytes, Math.Round(saved.Duration.TotalSeconds, 3), Math.Round(saved.Pause.TotalSeconds, 3)));
        metrics.Checkpoint(saved.Pause);
        summary.Saved(saved);
        progress.Message(FormatCheckpoint(saved));
    }

    private static string FormatCheckpoint(SavedCheckpoint saved) => saved.Duration > saved.Pause
        ? string.Create(CultureInfo.InvariantCulture,
            $"checkpoint step {saved.Step}: {saved.Directory} ({saved.Bytes / 1e6:F1} MB, training paused {saved.Pause.TotalSeconds:F2} s, committed {saved.Duration.TotalSeconds:F2} s after it started)")
        : string.Create(CultureInfo.InvariantCulture,
            $"checkpoint step {saved.Step}: {saved.Directory} ({saved.Bytes / 1e6:F1} MB, training paused {saved.Pause.TotalSeconds:F2} s)");

    private static string FormatEvaluation(long step, TaskScore score, string split) =>
        split == EvalMetrics.TestSplit ? $"eval step {step}: {score.Description}"
        : $"eval step {step}: val accuracy {score.Accuracy:P2}, val loss {score.Loss:F4}";
}
