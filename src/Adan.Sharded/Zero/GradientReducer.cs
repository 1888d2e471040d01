using System.Diagnostics;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>
/// The gradient reduction at the start of a sharded optimizer's step, of the
/// <see cref="ShardedOptimizer"/> engine: the sums over the ranks of the whole flat buffer (stage 0, bucketed all-reduce) or of
/// this rank's shard (ZeRO-1/2, reduce-scatter in place), either reduced now or, when an armed
/// <see cref="OverlappedGradients"/> pass is attached, waited for (most of it was launched while backward ran).
/// </summary>
internal sealed class GradientReducer : IDisposable
{
    private readonly FlatParameters _flat;
    private readonly ICollective _collective;
    private readonly ZeroStage _stage;
    private readonly DistributedDataParallel? _replicated;
    private readonly long _stateStart;
    private readonly long _stateLength;
    private OverlappedGradients? _overlap;

    public GradientReducer(FlatParameters flat, ICollective collective, ZeroStage stage, long stateStart, long stateLength)
    {
        _flat = flat;
        _collective = collective;
        _stage = stage;
        _stateStart = stateStart;
        _stateLength = stateLength;
        if (stage == ZeroStage.Replicated)
        {
            _replicated = new DistributedDataParallel(flat, collective, deferScaling: true);
        }
    }

    /// <summary>The overlapped reduction the step waits for when it is armed; its collective must suit the stage.</summary>
    public OverlappedGradients? Overlap
    {
        get => _overlap;
        set
        {
            if (value is not null)
            {
                if (!ReferenceEquals(value.Flat, _flat))
                {
                    throw new ArgumentException("the overlapped reduction is over other flat parameters than the optimizer's.", nameof(value));
                }
                var expected = _stage == ZeroStage.Replicated ? GradientReduction.AllReduce : GradientReduction.ReduceScatter;
                if (value.Reduction != expected)
                {
                    throw new ArgumentException(
                        $"ZeRO stage {(int)_stage} reduces gradients with {expected}, but the overlapped reduction uses {value.Reduction}; build it with GradientReduction.{expected}.",
                        nameof(value));
                }
            }
            if (_overlap is not null && !ReferenceEquals(_overlap, value))
            {
                _overlap.ReleaseNonOwnedGradients = false;
            }
            if (value is not null)
            {
                // ZeRO-2 keeps only its own block: each bucket's other pages go as soon as its reduce-scatter is done.
                value.ReleaseNonOwnedGradients = _stage == ZeroStage.Gradients;
            }
            _overlap = value;
        }
    }

    /// <summary>How long the last reduction had collectives in flight (with overlap, mostly while backward ran).</summary>
    public TimeSpan LastBusy { get; private set; }

    /// <summary>Reduces and returns the gradients this rank's state covers (the whole buffer for stage 0), unscaled.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public torch.Tensor Reduce(torch.Tensor gradients, int microBatches)
    {
        if (_overlap is { Armed: true })
        {
            _overlap.Finish();
            LastBusy = _overlap.LastBusy;
        }
        else
        {
            var start = Stopwatch.GetTimestamp();
            if (_stage == ZeroStage.Replicated)
            {
                _replicated!.SynchronizeGradients(microBatches);
            }
            else
            {
                using var own = gradients.narrow(0, _stateStart, _stateLength);
                // In place for ZeRO-1 and ZeRO-2 alike: ZeRO-2 then returns every gradient page outside this block.
                _collective.ReduceScatter(gradients, own, ReduceOp.Sum);
            }
            LastBusy = Stopwatch.GetElapsedTime(start);
        }
        return _stage == ZeroStage.Replicated ? gradients : gradients.narrow(0, _stateStart, _stateLength);
    }

    public void Dispose() => _replicated?.Dispose();
}
