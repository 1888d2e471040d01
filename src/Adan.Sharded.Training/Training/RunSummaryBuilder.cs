using Adan.Sharded.Training.Telemetry;

namespace Adan.Sharded.Training;

/// <summary>
/// Accumulates what a run measures for its <see cref="RunSummary"/>: the wall time, where this rank's step time went,
/// the training throughput, the checkpoint it resumed from, and the checkpoints it saved with the time training
/// paused for them.
/// </summary>
/// <remarks>The wall clock starts when the builder is made, so make it first: the wall time includes the setup.</remarks>
internal sealed class RunSummaryBuilder
{
    private readonly TimeProvider _time;
    private readonly long _started;
    private long _trainingStarted;
    private long? _trainingEnded;
    private TimeSpan _forwardBackward;
    private TimeSpan _communication;
    private TimeSpan _communicationBusy;
    private TimeSpan _optimizer;
    private TimeSpan _checkpointPause;
    private TimeSpan _checkpointDuration;
    private long? _stagingBytes;
    private long? _peakGradientBytes;
    private ComputeThreadsSummary? _computeThreads;
    private long _samples;
    private int _checkpointsSaved;

    /// <summary>Starts the run's wall clock on <paramref name="time"/>.</summary>
    public RunSummaryBuilder(TimeProvider time)
    {
        _time = time;
        _started = time.GetTimestamp();
    }

    /// <summary>The checkpoint the run resumed from, if any.</summary>
    public string? ResumedFrom { get; private set; }

    /// <summary>The latest checkpoint of the run: the last one saved, else the one it resumed from.</summary>
    public string? LastCheckpoint { get; private set; }

    /// <summary>Training samples per second over all ranks since <see cref="StartTraining"/> (until <see cref="EndTraining"/>).</summary>
    public double SamplesPerSecond
    {
        get
        {
            var seconds = _time.GetElapsedTime(_trainingStarted, _trainingEnded ?? _time.GetTimestamp()).TotalSeconds;
            return _samples > 0 ? _samples / seconds : 0;
        }
    }

    /// <summary>Records that the run continues from the checkpoint in <paramref name="directory"/>.</summary>
    public void Resumed(string directory) => ResumedFrom = LastCheckpoint = directory;

    /// <summary>Starts the training clock, which the throughput is measured on.</summary>
    public void StartTraining() => _trainingStarted = _time.GetTimestamp();

    /// <summary>Records one optimizer step.</summary>
    /// <param name="forwardBackward">Time in the forward and backward passes.</param>
    /// <param name="optimizerStep">Time in the optimizer's step, communication included.</param>
    /// <param name="communication">The part of <paramref name="optimizerStep"/> spent waiting for communication.</param>
    /// <param name="communicationBusy">Time the step's collectives were in flight, the part hidden behind backward included.</param>
    /// <param name="samples">Samples of the step over all ranks.</param>
    public void Step(TimeSpan forwardBackward, TimeSpan optimizerStep, TimeSpan communication, TimeSpan communicationBusy, long samples)
    {
        _forwardBackward += forwardBackward;
        _communication += communication;
        _communicationBusy += communicationBusy;
        _optimizer += optimizerStep - communication;
        _samples += samples;
    }

    /// <summary>Records a checkpoint the run saved.</summary>
    public void Saved(SavedCheckpoint checkpoint)
    {
        LastCheckpoint = checkpoint.Directory;
        _checkpointsSaved++;
        _checkpointPause += checkpoint.Pause;
        _checkpointDuration += checkpoint.Duration;
    }

    /// <summary>Records the staging memory held for background saves (bytes per rank).</summary>
    public void Staging(long bytes) => _stagingBytes = bytes;

    /// <summary>Records the peak resident gradient bytes (see <see cref="GradientPeakProbe"/>); null: not measured.</summary>
    public void PeakGradientBytes(long? bytes) => _peakGradientBytes = bytes;

    /// <summary>Records what the steps computed with against the configured threads.</summary>
    public void ComputeThreads(ComputeThreadsSummary threads) => _computeThreads = threads;

    /// <summary>Stops the training clock: the throughput leaves out the final evaluation.</summary>
    public void EndTraining() => _trainingEnded = _time.GetTimestamp();

    /// <summary>The summary, with the wall time up to now.</summary>
    /// <param name="worldSize">Number of ranks.</param>
    /// <param name="steps">The step the run ended after.</param>
    /// <param name="batchesPerEpoch">Optimizer steps per epoch.</param>
    /// <param name="finalLoss">The last global training loss.</param>
    /// <param name="evaluation">The final test accuracy (null for a language model) and test loss.</param>
    /// <param name="model">The model's config name.</param>
    /// <param name="globalBatch">Samples per optimizer step over all ranks.</param>
    /// <param name="optimizer">The optimizer, for its name, state size and skipped steps.</param>
    /// <param name="zeroStage">The ZeRO stage (0 for the replicated baselines).</param>
    /// <param name="savesCheckpoints">Whether the run saves checkpoints; when not, their count and pause are null.</param>
    public RunSummary Build(int worldSize, long steps, long batchesPerEpoch, double finalLoss, (double? Accuracy, double Loss) evaluation,
        string model, long globalBatch, ITrainingOptimizer optimizer, int zeroStage, bool savesCheckpoints)
    {
        var stepTime = _forwardBackward + _communication + _optimizer;
        return new RunSummary(worldSize, steps, (double)steps / batchesPerEpoch, finalLoss, evaluation.Accuracy, SamplesPerSecond,
            _time.GetElapsedTime(_started).TotalSeconds, LastCheckpoint, optimizer.Name, zeroStage)
        {
            Model = model,
            GlobalBatch = globalBatch,
            TestLoss = evaluation.Loss,
            ForwardBackwardShare = Share(_forwardBackward, stepTime),
            CommunicationShare = Share(_communication, stepTime),
            CommunicationBusySeconds = Math.Round(_communicationBusy.TotalSeconds, 4),
            OptimizerShare = Share(_optimizer, stepTime),
            OptimizerStateBytes = optimizer.StateBytes,
            ResumedFrom = ResumedFrom,
            CheckpointsSaved = savesCheckpoints ? _checkpointsSaved : null,
            CheckpointSeconds = savesCheckpoints ? Math.Round(_checkpointDuration.TotalSeconds, 3) : null,
            CheckpointPauseSeconds = savesCheckpoints ? Math.Round(_checkpointPause.TotalSeconds, 3) : null,
            CheckpointStagingBytes = _stagingBytes,
            PeakGradientBytes = _peakGradientBytes,
            ComputeThreads = _computeThreads,
            SkippedSteps = optimizer.SkippedSteps,
            Restarts = JobEnvironment.Restarts,
            Version = BuildInfo.Version,
            GitCommit = BuildInfo.GitCommit,
        };
    }

    private static double Share(TimeSpan part, TimeSpan whole) => whole > TimeSpan.Zero ? Math.Round(part / whole, 4) : 0;
}
