using System.Diagnostics;
using System.Globalization;
using Adan.Coordinator.Client;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Mpi;
using Adan.Sharded.Optim;
using Adan.Sharded.Sampling;
using Adan.Sharded.Schedules;
using Adan.Sharded.Zero;
using Adan.Worker.Config;
using Adan.Worker.Data;
using Adan.Worker.Models;
using Adan.Worker.Progress;
using Adan.Worker.Telemetry;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Worker.Training;

/// <summary>
/// One rank's training run: data, model, flat buffers, the data-parallel optimizer, the step loop
/// with evaluation, checkpoints and progress, and the run summary.
/// </summary>
internal sealed class Trainer
{
    private readonly TrainConfig _config;
    private readonly ICollective _collective;
    private readonly TextWriter _output;

    public Trainer(TrainConfig config, ICollective collective, TextWriter output)
    {
        _config = config;
        _collective = collective;
        _output = output;
    }

    private int Rank => _collective.Rank;

    private int WorldSize => _collective.WorldSize;

    public async Task<int> RunAsync()
    {
        var wall = Stopwatch.StartNew();
        var threads = _config.EffectiveThreads(HostThreads.LocalRanks());
        set_num_threads(threads);
        AdanKernel.Threads = threads;
        if (Rank == 0)
        {
            _output.WriteLine($"adan train: {WorldSize} rank(s), {threads} thread(s) per rank, MPI {(WorldSize > 1 ? MpiLibrary.LoadedFrom : "not used")}");
            _output.WriteLine(_config.Describe());
        }

        using var telemetry = TelemetrySetup.Start(_config.Telemetry, Rank);
        var metrics = new WorkerMetrics(Rank);
        using var data = TrainingData.Load(_config);
        using var model = ModelFactory.Create(_config, data.VocabularySize);
        using var flat = FlatParameters.FromModule(model, WorldSize);
        // Identical seeds give identical weights; the broadcast makes it a guarantee.
        _collective.Broadcast(flat.Values);
        using var optimizer = CreateOptimizer(flat);
        metrics.OptimizerState(optimizer.StateBytes);

        var sampler = new DistributedSampler(data.Train.Count, Rank, WorldSize, _config.MicroBatch * _config.Accumulation, (ulong)_config.Seed);
        var globalBatch = sampler.GlobalBatch;
        var sharded = (optimizer as ShardedAdanOptimizer)?.Adan;
        var checkpointRoot = Path.GetFullPath(_config.ResolvedCheckpointDir);
        // Planned before the schedule, which is sized by the last step.
        var resume = sharded is not null && CheckpointSupport.ResumeDirectory(_config.Resume, checkpointRoot) is { } resumeDirectory
            ? ResumePlan.Create(resumeDirectory, sampler, _config.Epochs)
            : null;
        var checkpointing = sharded is not null && _config.CheckpointEvery > 0;
        if (checkpointing)
        {
            // Before any loading: a run that would have to overwrite newer checkpoints is refused at once.
            CheckpointSupport.RefuseNewerCheckpoints(checkpointRoot, resume?.StartStep ?? 0);
        }
        var totalSteps = resume?.LastStep ?? _config.Epochs * sampler.BatchesPerEpoch;
        if (_config.MaxSteps > 0)
        {
            totalSteps = Math.Min(totalSteps, _config.MaxSteps);
        }
        var schedule = Schedule(totalSteps);
        string? failure = null;
        await using var link = await JobLink.ConnectAsync(Rank, WorldSize, schedule, reason =>
        {
            failure = reason;
            Console.Error.WriteLine($"adan: rank {Rank}: the coordinator reports the job failed: {reason}; aborting");
            if (_collective is MpiCollective)
            {
                MpiRuntime.Initialize().Abort(1);
            }
        });
        if (link is not null)
        {
            _collective.Barrier();
            schedule = await link.ScheduleAsync();
        }

        ICheckpointCatalog? catalog = !checkpointing
            ? null
            : link is not null ? new CoordinatorCheckpointCatalog(link.Client, checkpointRoot, _config.KeepLast)
                : new LocalCheckpointCatalog(checkpointRoot, _config.KeepLast);
        // Both catalogues delete old checkpoints in the background; leaving waits for that.
        using var catalogLifetime = catalog as IDisposable;
        var startStep = 0L;
        var lastLoss = double.NaN;
        string? resumedFrom = null;
        string? lastCheckpoint = null;
        if (resume is not null)
        {
            var manifest = ShardedCheckpoint.Load(resume.Directory, sharded!, _collective);
            lastLoss = CheckpointSupport.Restore(manifest.Extra, model, resume.Directory);
            sampler.Restore(resume.Position);
            startStep = resume.StartStep;
            resumedFrom = lastCheckpoint = resume.Directory;
            if (Rank == 0)
            {
                _output.WriteLine(resume.Description);
            }
        }

        using var progress = ProgressReporterFactory.Create(Rank, _config.LogEvery);
        progress.Start(totalSteps);
        model.train();
        var samplesSeen = 0L;
        var checkpointsSaved = 0;
        var checkpointPause = TimeSpan.Zero;
        var forwardBackward = TimeSpan.Zero;
        var communication = TimeSpan.Zero;
        var optimizerTime = TimeSpan.Zero;
        var trainingTime = Stopwatch.StartNew();
        for (var step = startStep; step < totalSteps; step++)
        {
            using var activity = WorkerTelemetry.ActivitySource.StartActivity("train.step");
            var stepStart = Stopwatch.GetTimestamp();
            var indices = sampler.Next(out var position);
            if (data.Train is ImageDataset images)
            {
                images.Epoch = (int)position.Epoch;
            }
            flat.ZeroGrad();
            var lossSum = 0.0;
            for (var m = 0; m < _config.Accumulation; m++)
            {
                using var scope = NewDisposeScope();
                var (x, y) = data.Train.Batch(indices.Slice(m * _config.MicroBatch, _config.MicroBatch));
                var loss = Loss(model, x, y, data.IsLanguageModel);
                loss.backward();
                lossSum += loss.item<float>();
            }
            var backwardDone = Stopwatch.GetTimestamp();
            forwardBackward += Stopwatch.GetElapsedTime(stepStart, backwardDone);
            var lr = schedule.LearningRateAt(step);
            optimizer.SetLearningRate(lr);
            optimizer.Step(_config.Accumulation);
            var optimizerStep = Stopwatch.GetElapsedTime(backwardDone);
            communication += optimizer.LastCommunication;
            optimizerTime += optimizerStep - optimizer.LastCommunication;
            lastLoss = _collective.AllReduce(lossSum / _config.Accumulation, ReduceOp.Average);
            samplesSeen += globalBatch;
            if (link is not null)
            {
                link.Client.Step = step + 1;
            }

            var duration = Stopwatch.GetElapsedTime(stepStart);
            metrics.Step(duration, globalBatch, lastLoss, lr);
            metrics.Collective("gradients", flat.Layout.TotalNumel * sizeof(float), optimizer.LastCommunication);
            progress.Report(new StepReport((int)position.Epoch + 1, step + 1, totalSteps, lastLoss, lr, samplesSeen / trainingTime.Elapsed.TotalSeconds));

            if (catalog is not null && ((step + 1) % _config.CheckpointEvery == 0 || step + 1 == totalSteps))
            {
                var (directory, bytes, pause) = await SaveAsync(catalog, sharded!, model, step + 1, sampler, lastLoss, metrics);
                lastCheckpoint = directory;
                checkpointsSaved++;
                checkpointPause += pause;
                progress.Message(string.Create(CultureInfo.InvariantCulture,
                    $"checkpoint step {step + 1}: {directory} ({bytes / 1e6:F1} MB, training paused {pause.TotalSeconds:F2} s)"));
                model.train();
            }
            if (_config.EvalEvery > 0 && (step + 1) % _config.EvalEvery == 0 && step + 1 < totalSteps)
            {
                var (accuracy, testLoss) = Evaluate(model, data);
                progress.Message(FormatEvaluation(step + 1, accuracy, testLoss));
                model.train();
            }
        }
        var samplesPerSecond = samplesSeen > 0 ? samplesSeen / trainingTime.Elapsed.TotalSeconds : 0;
        progress.Complete();

        var (finalAccuracy, finalTestLoss) = Evaluate(model, data);
        if (Rank == 0)
        {
            _output.WriteLine(FormatEvaluation(totalSteps, finalAccuracy, finalTestLoss));
        }
        if (failure is not null)
        {
            return 1;
        }
        var summary = new RunSummary(WorldSize, totalSteps, (double)totalSteps / sampler.BatchesPerEpoch, lastLoss, finalAccuracy,
            samplesPerSecond, wall.Elapsed.TotalSeconds, lastCheckpoint, optimizer.Name, _config.Optimizer == OptimizerKind.Adan ? (int)_config.ZeroStage : 0)
        {
            Model = _config.Model.ToString().ToLowerInvariant(),
            GlobalBatch = globalBatch,
            TestLoss = finalTestLoss,
            ForwardBackwardShare = Share(forwardBackward, forwardBackward + communication + optimizerTime),
            CommunicationShare = Share(communication, forwardBackward + communication + optimizerTime),
            OptimizerShare = Share(optimizerTime, forwardBackward + communication + optimizerTime),
            OptimizerStateBytes = optimizer.StateBytes,
            ResumedFrom = resumedFrom,
            CheckpointsSaved = catalog is null ? null : checkpointsSaved,
            CheckpointSeconds = catalog is null ? null : Math.Round(checkpointPause.TotalSeconds, 3),
        };
        // Flush the exporters now, so that the summary line is the last thing rank 0 prints.
        telemetry.Dispose();
        if (Rank == 0)
        {
            if (lastCheckpoint is not null)
            {
                _output.WriteLine($"checkpoint: {lastCheckpoint}");
            }
            var path = RunSummaryWriter.Write(_config.RunDir, summary);
            _output.WriteLine($"summary: {Path.GetFullPath(path)}");
        }
        return 0;
    }

    /// <summary>Saves a checkpoint after <paramref name="step"/> steps; returns its directory, size over all shards and the time training paused.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private async Task<(string Directory, long Bytes, TimeSpan Pause)> SaveAsync(ICheckpointCatalog catalog, ShardedAdan adan, nn.Module<Tensor, Tensor> model, long step,
        DistributedSampler sampler, double lastLoss, WorkerMetrics metrics)
    {
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("checkpoint.save");
        activity?.SetTag("step", step);
        var start = Stopwatch.GetTimestamp();
        // Every rank must store the same buffers, and the live model keeps using what was stored.
        AverageBuffers(model);
        var extra = CheckpointSupport.Extra(_config.Model.ToString().ToLowerInvariant(), lastLoss, model);
        extra[ResumePlan.GlobalBatchKey] = sampler.GlobalBatch;
        var progress = new TrainingProgress(step, sampler.Position, new Dictionary<string, long> { ["seed"] = _config.Seed }, extra);
        var manifest = await ShardedCheckpoint.SaveAsync(catalog, adan, _collective, step, progress);
        var pause = Stopwatch.GetElapsedTime(start);
        metrics.Checkpoint(pause);
        return (CheckpointFiles.StepDirectory(Path.GetFullPath(_config.ResolvedCheckpointDir), manifest.Step), manifest.Shards.Sum(s => s.Bytes), pause);
    }

    private ITrainingOptimizer CreateOptimizer(FlatParameters flat)
    {
        var c = _config;
        if (c.Optimizer == OptimizerKind.Adan)
        {
            var options = new AdanGroupOptions
            {
                LearningRate = c.Lr, Beta1 = c.Beta1, Beta2 = c.Beta2, Beta3 = c.Beta3, Eps = c.Eps, WeightDecay = c.WeightDecay, NoProx = c.NoProx,
            };
            return new ShardedAdanOptimizer(new ShardedAdan(flat, _collective, options, c.MaxGradNorm, c.ZeroStage));
        }
        var ddp = new DistributedDataParallel(flat, _collective, (long)c.BucketMib * 1024 * 1024);
        var parameters = flat.Parameters;
        var elements = flat.Layout.ParameterNumel;
        return c.Optimizer == OptimizerKind.AdamW
            ? new ReplicatedTorchOptimizer("adamw", ddp, torch.optim.AdamW(parameters, c.Lr, c.Beta1, c.Beta2, c.Eps, c.WeightDecay), () => 8 * elements)
            : new ReplicatedTorchOptimizer("sgd", ddp, torch.optim.SGD(parameters, c.Lr, c.Momentum, weight_decay: c.WeightDecay), () => 4 * elements);
    }

    private LearningRateSchedule Schedule(long totalSteps) => new()
    {
        BaseLearningRate = _config.Lr,
        BaseBatchSize = _config.BaseBatch,
        Scaling = _config.LrPolicy,
        WorldSize = WorldSize,
        MicroBatchSize = _config.MicroBatch,
        AccumulationSteps = _config.Accumulation,
        // A run shorter than the configured warm-up warms up for all but its last step.
        WarmupSteps = Math.Min(_config.WarmupSteps, Math.Max(0, totalSteps - 1)),
        Decay = _config.Schedule,
        TotalSteps = Math.Max(totalSteps, 1),
        MinLearningRate = _config.MinLr,
    };

    private static Tensor Loss(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, bool languageModel)
    {
        var logits = model.forward(x);
        return languageModel
            ? nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
            : nn.functional.cross_entropy(logits, y);
    }

    /// <summary>Test accuracy (null for a language model) and mean test loss, each rank scoring a slice, reduced over ranks.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private (double? Accuracy, double Loss) Evaluate(nn.Module<Tensor, Tensor> model, TrainingData data)
    {
        AverageBuffers(model);
        model.eval();
        var (start, count) = Evaluation.Shard(data.Test.Count, Rank, WorldSize);
        Span<double> sums = stackalloc double[3];
        using (no_grad())
        {
            if (data.IsLanguageModel)
            {
                var lm = Evaluation.LanguageModel(model, data.Test, start, count);
                sums[0] = 0;
                sums[1] = lm.Tokens;
                sums[2] = lm.LossSum;
            }
            else
            {
                var cls = Evaluation.Classify(model, data.Test, start, count);
                sums[0] = cls.Correct;
                sums[1] = cls.Samples;
                sums[2] = cls.LossSum;
            }
        }
        _collective.AllReduce(sums, ReduceOp.Sum);
        return (data.IsLanguageModel ? null : sums[0] / sums[1], sums[2] / sums[1]);
    }

    /// <summary>Averages buffers such as BatchNorm running statistics, which each rank updated from its own samples.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private void AverageBuffers(nn.Module<Tensor, Tensor> model)
    {
        foreach (var (_, buffer) in model.named_buffers())
        {
            if (buffer.dtype == ScalarType.Float32 || buffer.dtype == ScalarType.Float64)
            {
                _collective.AllReduce(buffer, ReduceOp.Average);
            }
        }
    }

    private static double Share(TimeSpan part, TimeSpan whole) => whole > TimeSpan.Zero ? Math.Round(part / whole, 4) : 0;

    private static string FormatEvaluation(long step, double? accuracy, double loss) => accuracy is { } a
        ? $"eval step {step}: test accuracy {a:P2}, test loss {loss:F4}"
        : $"eval step {step}: validation loss {loss:F4} (perplexity {Math.Exp(loss):F2})";
}
