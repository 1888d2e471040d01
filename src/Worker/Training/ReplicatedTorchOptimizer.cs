using System.Diagnostics;
using Adan.Sharded.DataParallel;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Worker.Training;

/// <summary>A TorchSharp optimizer (AdamW, SGD) with replicated state after a bucketed gradient all-reduce: the baselines.</summary>
internal sealed class ReplicatedTorchOptimizer : ITrainingOptimizer
{
    private readonly DistributedDataParallel _ddp;
    private readonly OptimizerHelper _optimizer;
    private readonly Func<long> _stateBytes;

    public ReplicatedTorchOptimizer(string name, DistributedDataParallel ddp, OptimizerHelper optimizer, Func<long> stateBytes)
    {
        Name = name;
        _ddp = ddp;
        _optimizer = optimizer;
        _stateBytes = stateBytes;
    }

    public string Name { get; }

    public long StateBytes => _stateBytes();

    public TimeSpan LastCommunication { get; private set; }

    public void SetLearningRate(double lr)
    {
        foreach (var group in _optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }
    }

    public bool Step(int microBatches)
    {
        var start = Stopwatch.GetTimestamp();
        _ddp.Flat.GatherGradients();
        _ddp.SynchronizeGradients(microBatches);
        LastCommunication = Stopwatch.GetElapsedTime(start);
        _optimizer.step();
        return true;
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _ddp.Dispose();
    }
}
