using System.Diagnostics;
using Adan.Coordinator.Client;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Sampling;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Models;
using Adan.Sharded.Training.Telemetry;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// A run's sharded checkpoints: the checkpoint it resumes from, the refusal to start over newer ones, the catalogue
/// that commits saves (the coordinator's when the job has one, else the checkpoint directory's own), loading and saving.
/// </summary>
/// <remarks>
/// Sharded checkpoints hold ZeRO-sharded Adan state, so only a run with Adan has one of these. It is made in two
/// steps because the resume plan positions the learning-rate schedule, which the coordinator link registers at join:
/// <see cref="Plan"/> before the link, <see cref="OpenCatalog"/> after it. With async_checkpoint (the default) saves
/// go through a <see cref="BackgroundCheckpointWriter"/>: <see cref="AfterStepAsync"/> starts them and commits them at
/// later step boundaries (its remarks describe the protocol), <see cref="CompleteAsync"/> commits the last one.
/// </remarks>
internal sealed class Checkpointing : IDisposable
{
    private readonly ICollective _collective;
    private readonly ShardedOptimizer _adan;
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly DistributedSampler _sampler;
    private readonly string _root;
    private readonly long _every;
    private readonly int _keepLast;
    private readonly ModelArchitecture? _architecture;
    private readonly string _modelName;
    private readonly long _seed;
    private readonly bool _background;
    private CheckpointRootLock? _rootLock;
    private ICheckpointCatalog? _catalog;
    private IDisposable? _catalogLifetime;
    private BackgroundCheckpointWriter? _writer;
    private HostStaging? _hostStaging;
    private TrainingSchedule? _schedule;
    private long _pendingStart;
    private TimeSpan _pendingPause;
    private JobLink? _link;
    private long _lastCommittedStep = -1;

    private Checkpointing(TrainConfig config, ICollective collective, ShardedOptimizer adan, TrainingSetup run, string root, ResumePlan? resume)
    {
        _collective = collective;
        _adan = adan;
        _model = run.Model;
        _sampler = run.Sampler;
        _root = root;
        _every = config.CheckpointEvery;
        _keepLast = config.KeepLast;
        _architecture = run.Architecture;
        _modelName = run.Definition.ModelName;
        _seed = config.Seed;
        _background = config.AsyncCheckpoint;
        Resume = resume;
        // A GPU run's loads and saves pass through one set of (pinned) host buffers, allocated once.
        if (HostStaging.IsRequired(adan) && (resume is not null || Saves))
        {
            _hostStaging = new HostStaging(adan, collective.Rank);
        }
    }

    /// <summary>Where the run continues from; null for a fresh start.</summary>
    public ResumePlan? Resume { get; }

    /// <summary>Whether the run saves checkpoints (checkpoint_every &gt; 0).</summary>
    public bool Saves => _every > 0;

    /// <summary>
    /// Bytes of staging memory this rank holds for checkpoints: a background save's file image, or the host staging a
    /// GPU run's saves and loads pass through; 0 for synchronous saves of CPU tensors.
    /// </summary>
    public long StagingBytes => _writer?.StagingBytes ?? _hostStaging?.Bytes ?? 0;

    /// <summary>What <see cref="StagingBytes"/> is for, as the trainer prints it.</summary>
    public string StagingPurpose => (_writer is not null, _hostStaging is not null) switch
    {
        (true, true) => "async_checkpoint: the shard is copied from the device into host buffers and written in the background",
        (true, false) => "async_checkpoint: saves are written in the background",
        _ => "checkpoints pass between the device and these host buffers",
    };

    /// <summary>
    /// Plans the resume (the resume setting: none, latest in the checkpoint directory, or a path, resolved by rank 0
    /// and agreed by every rank through <see cref="ResumeAgreement"/>) and, when the run saves, takes the checkpoint
    /// directory for the job's life (<see cref="CheckpointRootLock"/>, on rank 0) and refuses one that holds checkpoints
    /// newer than the run's start. Null when the optimizer has no sharded state to checkpoint.
    /// </summary>
    /// <exception cref="CheckpointException">
    /// On every rank: the resume path is not a committed checkpoint, a rank cannot read the chosen one, another job
    /// holds the checkpoint directory, or newer checkpoints are in the way.
    /// </exception>
    /// <remarks>Collective: every rank must call.</remarks>
    public static Checkpointing? Plan(TrainConfig config, ICollective collective, TrainingSetup run)
    {
        if (run.Optimizer.Sharded is not { } adan)
        {
            return null;
        }
        var root = Path.GetFullPath(config.ResolvedCheckpointDir);
        var agreed = ResumeAgreement.Agree(collective, () => ResumeDirectory(config.Resume, root), CheckpointManifest.Read);
        var resume = agreed is { } chosen ? ResumePlan.Create(chosen.Directory, chosen.Manifest, run.Sampler, config.Epochs) : null;
        var checkpointing = new Checkpointing(config, collective, adan, run, root, resume);
        if (checkpointing.Saves)
        {
            try
            {
                // Before any loading: a run that would have to overwrite newer checkpoints is refused at once.
                checkpointing.TakeRoot();
            }
            catch
            {
                checkpointing.Dispose();
                throw;
            }
        }
        return checkpointing;
    }

    /// <summary>
    /// Takes the checkpoint directory for the job's life (<see cref="CheckpointRootLock"/>, on rank 0) and refuses one
    /// that holds checkpoints newer than the run's start, by rank 0's listing (the one that resolved the resume) on
    /// every rank together.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private void TakeRoot()
    {
        _rootLock = LockRoot(_root, _collective);
        var refusal = TextBroadcast.Broadcast(_collective, _collective.Rank == 0 ? NewerCheckpoints(_root, Resume?.StartStep ?? 0) ?? "" : "");
        if (refusal.Length > 0)
        {
            throw new CheckpointException(refusal);
        }
    }

    /// <summary>The catalogue that commits: the coordinator's when the job has one, else the checkpoint directory's own.</summary>
    private void UseCatalog()
    {
        if (_link is not null)
        {
            Use(new CoordinatorCheckpointCatalog(_link.Client, _root, _keepLast));
        }
        else
        {
            Use(new LocalCheckpointCatalog(_root, _keepLast));
        }
    }

    /// <summary>The learning-rate schedule whose shape, and position after the saved step, every save records; call before the first save.</summary>
    public void Record(TrainingSchedule schedule) => _schedule = schedule;

    /// <summary>
    /// Picks the catalogue that commits this run's checkpoints and, for background saves, allocates the staging memory
    /// now rather than at the first save; call before the first <see cref="AfterStepAsync"/>.
    /// </summary>
    public void OpenCatalog(JobLink? link)
    {
        _link = link;
        if (!Saves)
        {
            return;
        }
        UseCatalog();
        if (_background)
        {
            _writer = new BackgroundCheckpointWriter(_catalog!, _collective, _adan, hostStaging: _hostStaging);
        }
    }

    /// <summary>
    /// Loads the planned checkpoint into Adan's state, the model's buffers and the sampler. Returns the step to start at
    /// and the last loss the checkpoint recorded; (0, NaN) for a fresh start.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public (long StartStep, double LastLoss) Restore()
    {
        if (Resume is null)
        {
            return (0, double.NaN);
        }
        var manifest = ShardedCheckpoint.Load(Resume.Directory, _adan, _collective, _hostStaging);
        var extra = CheckpointExtra.Of(manifest.Extra);
        if (manifest.ModuleBuffers is not null)
        {
            ModelBuffers.Restore(_model, ModuleBuffersFile.Read(Resume.Directory, manifest), Resume.Directory);
        }
        else
        {
            // Format version 1 kept them in the manifest.
            extra.RestoreBuffers(_model, Resume.Directory);
        }
        _sampler.Restore(Resume.Position);
        return (Resume.StartStep, extra.LastLoss);
    }

    /// <summary>Whether a checkpoint is due after <paramref name="step"/> steps: every checkpoint_every steps and at the last.</summary>
    public bool IsDue(long step, long totalSteps) => Saves && (step % _every == 0 || step == totalSteps);

    /// <summary>
    /// The checkpoint work after <paramref name="step"/> steps: commits a background save once every rank has written
    /// it, and saves when due (<see cref="IsDue"/>), in the background or, with async_checkpoint=false, before returning.
    /// Returns the checkpoints committed by this call (none, one, or the previous and a synchronous one).
    /// </summary>
    /// <param name="step">Optimizer steps completed.</param>
    /// <param name="totalSteps">The run's last step.</param>
    /// <param name="lastLoss">The last global loss, stored with the checkpoint.</param>
    /// <remarks>Collective: every rank must call, after every step.</remarks>
    public async Task<IReadOnlyList<SavedCheckpoint>> AfterStepAsync(long step, long totalSteps, double lastLoss)
    {
        var committed = new List<SavedCheckpoint>();
        if (!Saves)
        {
            return committed;
        }
        if (_writer is null)
        {
            if (IsDue(step, totalSteps))
            {
                committed.Add(await SaveAsync(step, lastLoss));
            }
            return committed;
        }
        var start = Stopwatch.GetTimestamp();
        var manifest = await _writer.PollAsync();
        _pendingPause += Stopwatch.GetElapsedTime(start);
        if (manifest is not null)
        {
            committed.Add(Committed(manifest));
        }
        if (IsDue(step, totalSteps))
        {
            // The previous save commits first (waiting for its write if need be), and that wait is charged to it.
            if (await CompleteAsync() is { } previous)
            {
                committed.Add(previous);
            }
            using var activity = WorkerTelemetry.ActivitySource.StartActivity("checkpoint.stage");
            activity?.SetTag("step", step);
            _pendingStart = Stopwatch.GetTimestamp();
            await _writer.StartAsync(step, Progress(step, lastLoss));
            _pendingPause = Stopwatch.GetElapsedTime(_pendingStart);
        }
        return committed;
    }

    /// <summary>
    /// The preemption save after <paramref name="step"/> steps, which every rank agreed to stop after: commits the
    /// background save still being written, then saves <paramref name="step"/> unless that was it, and waits for its
    /// commit, whether or not the run saves on its own (checkpoint_every 0 takes the checkpoint directory now, with the
    /// checks <see cref="Plan"/> makes of a run that saves). Returns the checkpoints committed, the last of
    /// <paramref name="step"/>.
    /// </summary>
    /// <exception cref="CheckpointException">On every rank: another job holds the checkpoint directory, or newer checkpoints are in the way.</exception>
    /// <remarks>Collective: every rank must call, after the same step.</remarks>
    public async Task<IReadOnlyList<SavedCheckpoint>> PreemptAsync(long step, double lastLoss)
    {
        var committed = new List<SavedCheckpoint>();
        if (await CompleteAsync() is { } pending)
        {
            committed.Add(pending);
        }
        if (_lastCommittedStep != step)
        {
            if (_catalog is null)
            {
                TakeRoot();
                UseCatalog();
                if (HostStaging.IsRequired(_adan))
                {
                    _hostStaging ??= new HostStaging(_adan, _collective.Rank);
                }
            }
            committed.Add(await SaveAsync(step, lastLoss));
        }
        return committed;
    }

    /// <summary>Waits for the background save still being written, if any, and commits it; null when none is.</summary>
    /// <remarks>Collective: every rank must call. The end of training calls it, so the run's last save is committed
    /// before the summary.</remarks>
    public async Task<SavedCheckpoint?> CompleteAsync()
    {
        if (_writer?.PendingStep is null)
        {
            return null;
        }
        var start = Stopwatch.GetTimestamp();
        var manifest = await _writer.CompleteAsync();
        _pendingPause += Stopwatch.GetElapsedTime(start);
        return manifest is null ? null : Committed(manifest);
    }

    /// <summary>Saves a checkpoint after <paramref name="step"/> steps, with <paramref name="lastLoss"/> the last global loss, and waits for its commit.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private async Task<SavedCheckpoint> SaveAsync(long step, double lastLoss)
    {
        var catalog = _catalog ?? throw new InvalidOperationException("no checkpoint catalogue: this run does not save checkpoints, or OpenCatalog was not called.");
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("checkpoint.save");
        activity?.SetTag("step", step);
        var start = Stopwatch.GetTimestamp();
        var manifest = await ShardedCheckpoint.SaveAsync(catalog, _adan, _collective, step, Progress(step, lastLoss), staging: _hostStaging);
        _lastCommittedStep = manifest.Step;
        return new SavedCheckpoint(CheckpointFiles.StepDirectory(_root, manifest.Step), manifest.Shards.Sum(s => s.Bytes), Stopwatch.GetElapsedTime(start))
        {
            Step = manifest.Step,
        };
    }

    /// <summary>What the manifest records of the trainer at <paramref name="step"/>, with the model's buffers.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private TrainingProgress Progress(long step, double lastLoss)
    {
        // Every rank must store the same buffers, and the live model keeps using what was stored.
        ModelBuffers.Average(_model, _collective);
        var extra = CheckpointExtra.Capture(_modelName, lastLoss, _sampler.GlobalBatch, _sampler.Shuffle);
        if (_architecture is not null)
        {
            CheckpointExtra.RecordArchitecture(extra, _architecture);
        }
        var schedule = _schedule ?? throw new InvalidOperationException("no learning-rate schedule to record: Record was not called before the first save.");
        CheckpointExtra.RecordSchedule(extra, schedule.Record, schedule.SamplesBefore(step));
        return new TrainingProgress(step, _sampler.Position, new Dictionary<string, long> { ["seed"] = _seed }, extra)
        {
            ModuleBuffers = ModelBuffers.Capture(_model),
        };
    }

    /// <summary>A background save just committed, with the pause charged to it since it started.</summary>
    private SavedCheckpoint Committed(CheckpointManifest manifest)
    {
        var saved = new SavedCheckpoint(CheckpointFiles.StepDirectory(_root, manifest.Step), manifest.Shards.Sum(s => s.Bytes), _pendingPause)
        {
            Step = manifest.Step,
            Duration = Stopwatch.GetElapsedTime(_pendingStart),
        };
        _pendingPause = TimeSpan.Zero;
        _lastCommittedStep = manifest.Step;
        return saved;
    }

    /// <summary>
    /// Waits for a background write still running (a save not completed stays uncommitted) and frees its staging
    /// memory, then waits for the catalogue's background deletion of old checkpoints.
    /// </summary>
    public void Dispose()
    {
        _writer?.Dispose();
        _hostStaging?.Dispose();
        _catalogLifetime?.Dispose();
        _rootLock?.Dispose();
    }

    /// <summary>
    /// Rank 0 takes the checkpoint root for this job; one all-reduce makes every rank refuse together when another job
    /// holds it. The job is named by the launcher's job id, or as a run without a coordinator.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private static CheckpointRootLock? LockRoot(string root, ICollective collective)
    {
        CheckpointRootLock? held = null;
        string? refusal = null;
        if (collective.Rank == 0)
        {
            var jobId = Environment.GetEnvironmentVariable(Adan.Coordinator.Protocol.CoordinatorEnvironment.JobVariable) is { Length: > 0 } id
                ? id
                : $"adan-train-{Environment.ProcessId}";
            try
            {
                held = CheckpointRootLock.Acquire(root, jobId);
            }
            catch (CheckpointException e)
            {
                refusal = e.Message;
            }
        }
        if (collective.AllReduce(refusal is null ? 0L : 1L, ReduceOp.Max) > 0)
        {
            throw new CheckpointException(refusal ?? $"{root} is in use by another job (rank 0 names it); two jobs must not share a checkpoint directory.");
        }
        return held;
    }

    private void Use<TCatalog>(TCatalog catalog)
        where TCatalog : ICheckpointCatalog, IDisposable
    {
        _catalog = catalog;
        _catalogLifetime = catalog;
    }

    /// <summary>Where a run resumes from: null for a fresh start.</summary>
    /// <exception cref="CheckpointException">An explicit path is not a committed checkpoint.</exception>
    private static string? ResumeDirectory(string resume, string checkpointRoot)
    {
        switch (resume)
        {
            case "none":
                return null;
            case "latest":
                var committed = Directory.Exists(checkpointRoot) ? CheckpointFiles.Committed(checkpointRoot) : [];
                return committed.Count == 0 ? null : committed[^1].Directory;
            default:
                return CheckpointFiles.Resolve(resume);
        }
    }

    /// <summary>
    /// The refusal of a run that saves into <paramref name="checkpointRoot"/> while it holds committed checkpoints
    /// newer than the run's start: the run would reach those steps and have to overwrite them. Found at start, not
    /// after hours of training at the first colliding save. Null when there are none.
    /// </summary>
    private static string? NewerCheckpoints(string checkpointRoot, long startStep)
    {
        var newer = CheckpointFiles.Committed(checkpointRoot).Where(c => c.Step > startStep).Select(c => c.Step).ToList();
        return newer.Count == 0
            ? null
            : $"{checkpointRoot} already holds committed checkpoint(s) of step {string.Join(", ", newer)}, after this run's start (step {startStep}); " +
              "saving would overwrite them, and a committed checkpoint is never overwritten. Write this run's checkpoints elsewhere " +
              "(--set checkpoint_dir=DIR) or move those checkpoints away.";
    }
}
