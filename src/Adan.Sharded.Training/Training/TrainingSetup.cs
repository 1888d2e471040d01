using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Precision;
using Adan.Sharded.Sampling;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// What one rank trains with, built from the config: the data, the model, its flat parameter buffers (identical on
/// every rank), the gradient sync, the data-parallel optimizer and the sampler; and the run's length.
/// </summary>
internal sealed class TrainingSetup : IDisposable
{
    private readonly TrainConfig _config;

    private TrainingSetup(TrainConfig config, RunDefinition definition, TrainingData data, nn.Module<Tensor, Tensor> model, FlatParameters flat,
        GradientSync gradientSync, ITrainingOptimizer optimizer, DistributedSampler sampler)
    {
        Definition = definition;
        Architecture = definition.Architecture(data);
        GradientSync = gradientSync;
        _config = config;
        Data = data;
        Model = model;
        Flat = flat;
        Optimizer = optimizer;
        Sampler = sampler;
    }

    /// <summary>Where the model, its flat buffers and the optimizer's shard live.</summary>
    public Device Device => Flat.Values.device;

    /// <summary>What the run trains: the model's name and where its data and model came from.</summary>
    public RunDefinition Definition { get; }

    /// <summary>The architecture checkpoints record (the built-in models); null for an application's own model.</summary>
    public ModelArchitecture? Architecture { get; }

    /// <summary>The train and test sets.</summary>
    public TrainingData Data { get; }

    /// <summary>The model, its parameters views into <see cref="Flat"/>.</summary>
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>The model's parameters and gradients as flat buffers.</summary>
    public FlatParameters Flat { get; }

    /// <summary>
    /// The gradient reduction over <see cref="Flat"/> that <see cref="Optimizer"/> starts each step with: all-reduce at
    /// ZeRO stage 0, reduce-scatter at 1 and 2, in buckets of <c>bucket_mib</c>. With more than one rank and
    /// <c>overlap_communication</c> it overlaps backward (<see cref="Adan.Sharded.DataParallel.GradientSync.OverlapsBackward"/>): armed
    /// before the last micro-batch of each step.
    /// </summary>
    public GradientSync GradientSync { get; }

    /// <summary>The update of any registered optimizer by the sharded engine, which synchronises the gradients first.</summary>
    public ITrainingOptimizer Optimizer { get; }

    /// <summary>This rank's batches: one global batch (micro-batch × accumulation per rank) per optimizer step.</summary>
    public DistributedSampler Sampler { get; }

    /// <summary>Loads the data and builds the model, flat buffers, optimizer and sampler.</summary>
    /// <param name="config">The run's settings.</param>
    /// <param name="collective">The job's collective.</param>
    /// <param name="definition">The model and data; the config's built-in ones when null.</param>
    /// <remarks>Collective: every rank must call.</remarks>
    public static TrainingSetup Create(TrainConfig config, ICollective collective, RunDefinition? definition = null)
    {
        definition ??= RunDefinition.BuiltIn(config);
        var data = definition.LoadData();
        nn.Module<Tensor, Tensor>? model = null;
        FlatParameters? flat = null;
        GradientSync? gradientSync = null;
        try
        {
            // Seeded here for every model: an application's factory gets the same initial weights on every rank too.
            torch.manual_seed(config.Seed);
            model = definition.CreateModel(data);
            InitialWeights.Apply(model, config);
            var device = collective.Device;
            if (device.type != DeviceType.CPU)
            {
                // Initialised on the host from the seed (identical on every rank), then moved: the flat buffers follow the parameters.
                model.to(device);
            }
            // Identical seeds give identical weights; the broadcasts make it a guarantee. Frozen parameters go first, while
            // every one is fp32 (mixed precision converts them with the model).
            ModelBuffers.BroadcastFrozen(model, collective);
            flat = FlatParameters.FromModule(model, collective.WorldSize, Precision(config), config.OptimizerState.Alignment());
            collective.Broadcast(flat.Values);
            flat.RefreshCompute();
            // With one rank there is nothing to overlap: the reduction is a copy at most.
            gradientSync = new GradientSync(flat, collective,
                config.ZeroStage != ZeroStage.Replicated ? GradientReduction.ReduceScatter : GradientReduction.AllReduce,
                (long)config.BucketMib * 1024 * 1024, config.OverlapCommunication && collective.WorldSize > 1 ? model : null,
                config.ReduceDtype == ReduceDtype.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
            var optimizer = CreateOptimizer(config, flat, collective, gradientSync);
            RequireOrder(data.Train, config.Shuffle);
            var sampler = new DistributedSampler(data.Train.Count, collective.Rank, collective.WorldSize, config.MicroBatch * config.Accumulation,
                (ulong)config.Seed, shuffle: config.Shuffle);
            return new TrainingSetup(config, definition, data, model, flat, gradientSync, optimizer, sampler);
        }
        catch
        {
            gradientSync?.Dispose();
            flat?.Dispose();
            model?.Dispose();
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The step the run ends after: where the configured epochs end (counted on from a resumed checkpoint), capped by
    /// max_steps, which stops the run without touching the learning-rate schedule (see <see cref="ScheduleRecord"/>).
    /// </summary>
    public long TotalSteps(ResumePlan? resume)
    {
        var lastStep = resume?.LastStep ?? _config.Epochs * Sampler.BatchesPerEpoch;
        return _config.MaxSteps > 0 ? Math.Min(lastStep, _config.MaxSteps) : lastStep;
    }

    /// <summary>Disposes what <see cref="Create"/> built, the optimizer first.</summary>
    public void Dispose()
    {
        Optimizer.Dispose();
        GradientSync.Dispose();
        Flat.Dispose();
        Model.Dispose();
        Data.Dispose();
    }

    /// <summary>A forward-only training set cannot serve a shuffled epoch: refused at start, since it would start its enumeration over for almost every sample.</summary>
    /// <exception cref="ConfigException">The set is forward-only and <c>shuffle</c> is on.</exception>
    internal static void RequireOrder(Data.IBatchDataset train, bool shuffle)
    {
        if (shuffle && !train.SupportsRandomAccess)
        {
            throw new ConfigException(
                $"Invalid shuffle: true with a forward-only training set ({train.GetType().Name} reads its samples in order); set shuffle=false.");
        }
    }

    /// <summary>The library's compute precision for the config's <c>precision</c>.</summary>
    public static ComputePrecision Precision(TrainConfig config) =>
        config.Precision == PrecisionMode.Bf16Mixed ? ComputePrecision.Bf16Mixed : ComputePrecision.Fp32;

    /// <summary>The engine with the config's optimizer rule over the config's parameter groups (<see cref="ParameterGroups"/>).</summary>
    private static ITrainingOptimizer CreateOptimizer(TrainConfig c, FlatParameters flat, ICollective collective, GradientSync sync)
    {
        var groups = ParameterGroups.Of(c, flat.Layout.Entries.Select(e => (e.Name, e.Shape)));
        return new TrainingOptimizer(new ShardedOptimizer(flat, collective, OptimizerRegistry.Get(c.Optimizer).CreateRule(), groups, stage: c.ZeroStage,
            gradientSync: sync, measureGradientNoise: c.GradientNoise, stateMode: c.OptimizerState, stateSeed: c.Seed));
    }
}
