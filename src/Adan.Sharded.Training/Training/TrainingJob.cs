using Adan.Sharded.Collectives;
using Adan.Sharded.Mpi;
using Adan.Sharded.Tensors;
using Adan.Sharded.Threading;
using Adan.Sharded.Training.Data;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// One rank of a data-parallel training job over the application's own model, task and data, with everything
/// <c>adan train</c> has: any registered optimizer at any ZeRO stage, overlapped communication, accumulation,
/// clipping, learning-rate scaling and schedule, asynchronous sharded checkpoints, resume and resharding at another
/// world size, the coordinator's membership when started by <c>adan launch</c>, progress, <c>metrics.jsonl</c>,
/// <c>summary.json</c>, TensorBoard and telemetry — all set by <see cref="TrainingOptions"/>.
/// </summary>
/// <remarks>
/// <para>
/// Ranks: started alone the process trains on its own; under <c>adan launch -n W --program PATH</c>,
/// <c>mpiexec.mpich -n W PATH</c> or <c>srun</c>, every process is a rank and they train together. Every rank builds
/// the model from the same seed (torch's generator is seeded with <c>seed</c> before <c>model</c> runs) and rank 0's
/// weights are broadcast; the sampler gives each rank its part of every global batch.
/// </para>
/// <para>
/// Signals: while <see cref="Run"/> runs, SIGUSR1 or a first SIGTERM makes every rank stop after the same step and save
/// it; <see cref="Run"/> then returns <see cref="TrainingResult.PreemptedExitCode"/>, and the same program with
/// <c>resume=latest</c> continues (the launcher passes it in <see cref="TrainingOptions.OverridesVariable"/>).
/// </para>
/// <para>
/// Failures: alone, an error is thrown to the caller. In a job, a failing rank prints one line and ends its process
/// with exit 1 (usage errors 2) so that the launcher stops the others, as <c>adan train</c>'s ranks do; waiting for
/// ranks that will never answer is worse than any cleanup a caller could do.
/// </para>
/// <para>
/// Threads: the run executes on a thread of its own bound to the rank's share of the cores (<c>threads</c>, by default
/// the cores over the ranks on this host); <see cref="Run"/> blocks until it ends. Create the job before anything
/// else touches torch so that libtorch's OpenMP threads get that count from the start.
/// </para>
/// </remarks>
public sealed class TrainingJob
{
    private readonly TrainingOptions _options;
    private readonly Func<nn.Module<Tensor, Tensor>>? _model;
    private readonly ITrainingTask? _task;
    private readonly Func<IBatchDataset>? _train;
    private readonly RunDefinition? _builtIn;

    /// <summary>A job over the application's model, task and training data.</summary>
    /// <param name="options">The settings (the keys of a config file).</param>
    /// <param name="model">
    /// Builds the model; its trainable parameters (<c>requires_grad</c>) become views into the flat buffer the optimizer
    /// shards. Called once per rank after torch was seeded, on the run's thread. Calls its submodules through
    /// <c>call</c>, not <c>forward</c>, so that overlapped gradient reduction sees them.
    /// </param>
    /// <param name="task">The loss that training differentiates and the metrics evaluation reports.</param>
    /// <param name="train">Opens the training set; the run owns and disposes it.</param>
    public TrainingJob(TrainingOptions options, Func<nn.Module<Tensor, Tensor>> model, ITrainingTask task, Func<IBatchDataset> train)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(train);
        _options = options;
        _model = model;
        _task = task;
        _train = train;
    }

    private TrainingJob(TrainingOptions options, RunDefinition builtIn)
    {
        _options = options;
        _builtIn = builtIn;
    }

    /// <summary>Opens the validation set: scored every <c>eval_every</c> (or <c>eval_every_samples</c>) and at the end, and the set <c>target</c> watches. Null: none.</summary>
    public Func<IBatchDataset>? Validation { get; init; }

    /// <summary>Opens the test set: scored once at the end (and during training when there is no validation set). Null: none.</summary>
    public Func<IBatchDataset>? Test { get; init; }

    /// <summary>The model's name in checkpoints and <c>summary.json</c>.</summary>
    public string ModelName { get; init; } = "custom";

    /// <summary>Where rank 0 prints its header, evaluations and summary line; progress goes to the terminal or standard error.</summary>
    public TextWriter Output { get; init; } = Console.Out;

    /// <summary>The job <c>adan train</c> runs: the built-in model and data its config's keys name.</summary>
    internal static TrainingJob BuiltIn(TrainingOptions options) => new(options, RunDefinition.BuiltIn(options.Config));

    /// <summary>Whether a launcher started this process as one rank of several (Hydra, srun, a PMIx server; see <see cref="LaunchEnvironment"/>).</summary>
    internal static bool LaunchedByMpi => LaunchEnvironment.FromProcess().IsLaunched;

    /// <summary>Trains this rank to the end, to the target, or to a preemption's save; see the remarks of <see cref="TrainingJob"/>.</summary>
    /// <remarks>Collective: every rank of the job must call.</remarks>
    /// <exception cref="Config.ConfigException">A setting does not fit the model or data (alone; in a job the rank exits with code 2).</exception>
    public TrainingResult Run()
    {
        var config = _options.Config;
        var definition = _builtIn ?? Definition();
        var threads = config.EffectiveThreads(HostThreads.LocalRanks());
        var defaultsApplied = NativeThreadDefaults.Apply(threads);
        // Process-wide in libtorch, and set before any convolution runs.
        OneDnn.Enabled = config.Onednn;
        Trainer? trainer = null;
        var (rank, worldSize) = (0, 1);
        var exitCode = ComputeThread.Run(threads, async () =>
        {
            using var collective = CreateCollective(config);
            (rank, worldSize) = (collective.Rank, collective.WorldSize);
            var abort = new RankAbort(collective.Rank, collective.WorldSize, LaunchedByMpi || JobEnvironment.HasCoordinator, Console.Error);
            using var preemption = new PreemptionRequest();
            trainer = new Trainer(config, collective, Output, abort, threads, defaultsApplied, preemption, definition);
            return await trainer.RunAsync();
        });
        var summary = trainer?.Summary ?? throw new InvalidOperationException("the run ended without a summary");
        return new TrainingResult
        {
            ExitCode = exitCode,
            Rank = rank,
            WorldSize = worldSize,
            Steps = summary.Steps,
            FinalLoss = summary.FinalLoss,
            Validation = trainer.FinalValidation,
            Test = trainer.FinalTest,
            LastCheckpoint = summary.CheckpointDir is null ? null : trainer.LastCheckpoint,
            RunDirectory = _options.RunDirectory,
        };
    }

    private RunDefinition Definition()
    {
        var (model, task, train, validation, test) = (_model!, _task!, _train!, Validation, Test);
        return new RunDefinition
        {
            LoadData = () => Open(task, train, validation, test),
            CreateModel = _ => model(),
            Architecture = _ => null,
            ModelName = ModelName,
        };
    }

    /// <summary>The sets, each opened once; the ones opened are disposed when a later one fails.</summary>
    private static TrainingData Open(ITrainingTask task, Func<IBatchDataset> train, Func<IBatchDataset>? validation, Func<IBatchDataset>? test)
    {
        IBatchDataset? trainSet = null, validationSet = null;
        try
        {
            trainSet = train() ?? throw new InvalidOperationException("the training set factory returned null");
            validationSet = validation?.Invoke();
            return TrainingData.Of(trainSet, validationSet, test?.Invoke(), task);
        }
        catch
        {
            validationSet?.Dispose();
            trainSet?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The rank's collective for where its buffers live: the device comes from the <c>device</c> setting and, for
    /// <c>cuda</c>, the rank's index on its host, which MPI knows once initialised.
    /// </summary>
    private static ICollective CreateCollective(Config.TrainConfig config)
    {
        var launched = LaunchedByMpi;
        var localRank = launched && config.Device != "cpu" ? MpiRuntime.Initialize().LocalRank : 0;
        return CollectiveFactory.Create(config.Collective, DeviceChoice.Resolve(config.Device, localRank), launched);
    }
}
