using System.Diagnostics;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using TorchSharp.Modules;

namespace Adan.Worker.Training;

/// <summary>A TorchSharp optimizer (AdamW, SGD) with replicated state after a bucketed gradient all-reduce: the baselines.</summary>
/// <remarks>
/// Like <see cref="ShardedAdan"/>, it skips a step whose averaged gradients are not finite and gives up after as many
/// consecutive skips as Adan's default allows, so the baselines and Adan report skipped steps alike.
/// </remarks>
internal sealed class ReplicatedTorchOptimizer : ITrainingOptimizer
{
    // ShardedAdan's default, so that a diverging baseline stops where Adan would.
    private const int MaxConsecutiveSkips = 10;

    private readonly DistributedDataParallel _ddp;
    private readonly OptimizerHelper _optimizer;
    private readonly Func<long> _stateBytes;
    private int _consecutiveSkips;

    /// <summary>Wraps <paramref name="optimizer"/>, built over the flat parameters of <paramref name="ddp"/>, which it takes ownership of.</summary>
    /// <param name="name">The name in logs and the summary.</param>
    /// <param name="ddp">The gradient all-reduce.</param>
    /// <param name="optimizer">The TorchSharp optimizer.</param>
    /// <param name="stateBytes">Bytes of state the optimizer holds.</param>
    public ReplicatedTorchOptimizer(string name, DistributedDataParallel ddp, OptimizerHelper optimizer, Func<long> stateBytes)
    {
        Name = name;
        _ddp = ddp;
        _optimizer = optimizer;
        _stateBytes = stateBytes;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public long StateBytes => _stateBytes();

    /// <inheritdoc />
    public ShardedAdan? Sharded => null;

    /// <inheritdoc />
    public long SkippedSteps { get; private set; }

    /// <inheritdoc />
    public TimeSpan LastCommunication { get; private set; }

    /// <inheritdoc />
    public TimeSpan LastCommunicationBusy => _ddp.LastBusy;

    /// <inheritdoc />
    public void SetLearningRate(double lr)
    {
        foreach (var group in _optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }
    }

    /// <inheritdoc />
    public bool Step(int microBatches)
    {
        var start = Stopwatch.GetTimestamp();
        _ddp.Flat.GatherGradients();
        _ddp.SynchronizeGradients(microBatches);
        LastCommunication = Stopwatch.GetElapsedTime(start);
        // The all-reduce left the same gradients on every rank, so every rank reaches the same verdict without a collective.
        if (!GradientsAreFinite())
        {
            SkippedSteps++;
            if (++_consecutiveSkips >= MaxConsecutiveSkips)
            {
                throw new NonFiniteGradientException(_consecutiveSkips, SkippedSteps);
            }
            return false;
        }
        _consecutiveSkips = 0;
        _optimizer.step();
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        _ddp.Dispose();
    }

    /// <summary>Adan's test (<see cref="SumOfSquares"/>, one vectorised pass accumulated in double): finite exactly when every gradient is.</summary>
    private bool GradientsAreFinite()
    {
        var gradients = _ddp.Flat.Gradients;
        return double.IsFinite(SumOfSquares.Of(TensorMemory.AsFloatMemory(gradients, "flat gradients")));
    }
}
