using System.Diagnostics;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using TorchSharp;

namespace Adan.Sharded.DataParallel;

/// <summary>
/// The data-parallel half of a training step over <see cref="FlatParameters"/>: replicate the
/// initial parameters from rank 0, then average the flat gradient buffer over the ranks in
/// buckets with nonblocking all-reduces that are all in flight together.
/// </summary>
/// <remarks>
/// Gradient accumulation needs no communication: k backward passes add into the flat buffer, and
/// <see cref="SynchronizeGradients"/> divides by W·k once. Without <see cref="Overlap"/> the buckets start after
/// backward; with it, while backward runs (see <see cref="OverlappedGradients"/>).
/// </remarks>
public sealed class DistributedDataParallel : IDisposable
{
    private readonly ICollective _collective;
    private readonly List<torch.Tensor> _bucketViews = new();
    private readonly ICollectiveRequest[] _requests;
    private torch.Tensor? _boundGradients;
    private OverlappedGradients? _overlap;
    private readonly IReadOnlyList<(long Start, long Length)> _plan;

    /// <summary>Wraps bound flat parameters; call <see cref="BroadcastParameters"/> before training.</summary>
    /// <param name="flat">The bound parameters.</param>
    /// <param name="collective">The communicator.</param>
    /// <param name="bucketBytes">Size of each all-reduce bucket.</param>
    /// <param name="deferScaling">
    /// Leave the summed gradients unscaled and report the factor in <see cref="GradientScale"/>, for
    /// an optimizer that folds it into its own gradient scaling (Adan's clip coefficient) and so
    /// saves one pass over the gradients.
    /// </param>
    public DistributedDataParallel(FlatParameters flat, ICollective collective, long bucketBytes = GradientBuckets.DefaultBucketBytes,
        bool deferScaling = false)
    {
        DeferScaling = deferScaling;
        Flat = flat;
        _collective = collective;
        _plan = GradientBuckets.Plan(flat.Layout.TotalNumel, bucketBytes);
        _requests = new ICollectiveRequest[_plan.Count];
    }

    /// <summary>The flat parameter and gradient buffers.</summary>
    public FlatParameters Flat { get; }

    /// <summary>Whether <see cref="SynchronizeGradients"/> leaves the 1/(W·k) scaling to the caller.</summary>
    public bool DeferScaling { get; }

    /// <summary>
    /// The factor the flat gradients still need after the last synchronisation: 1/(W·k) when
    /// scaling is deferred, else 1.
    /// </summary>
    public double GradientScale { get; private set; } = 1.0;

    /// <summary>
    /// How many bucket all-reduces may be outstanding at once (default 2). More in flight gains nothing
    /// without backward overlap and, measured on MPICH's shared-memory transport, streams through more
    /// memory than the caches hold: at 256 MiB on 2 ranks, all 11 buckets in flight reached 0.83× one
    /// blocking all-reduce of the whole buffer, a window of 2 reached 1.2×.
    /// </summary>
    public int MaxBucketsInFlight { get; init; } = 2;

    /// <summary>
    /// The overlapped all-reduce to wait for instead of reducing in <see cref="SynchronizeGradients"/>, when it was
    /// armed for the step's last backward pass (null: reduce then). It must be over <see cref="Flat"/> and use
    /// <see cref="GradientReduction.AllReduce"/>.
    /// </summary>
    public OverlappedGradients? Overlap
    {
        get => _overlap;
        set
        {
            if (value is not null && (!ReferenceEquals(value.Flat, Flat) || value.Reduction != GradientReduction.AllReduce))
            {
                throw new ArgumentException("data-parallel training needs an overlapped all-reduce (GradientReduction.AllReduce) over its own flat parameters.",
                    nameof(value));
            }
            _overlap = value;
        }
    }

    /// <summary>How long the last synchronisation had collectives in flight (with overlap, mostly while backward ran).</summary>
    public TimeSpan LastBusy { get; private set; }

    /// <summary>The number of gradient buckets.</summary>
    public int BucketCount => _plan.Count;

    /// <summary>Bytes all-reduced per synchronisation.</summary>
    public long BytesPerSynchronization => Flat.Layout.TotalNumel * sizeof(float);

    /// <summary>Copies rank <paramref name="root"/>'s parameters to every rank.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void BroadcastParameters(int root = 0) => _collective.Broadcast(Flat.Values, root);

    /// <summary>
    /// Averages the flat gradients over ranks and over <paramref name="microBatches"/> accumulated
    /// backward passes (each of which added its mean-loss gradient into the buffer).
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void SynchronizeGradients(int microBatches = 1)
    {
        if (microBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatches), microBatches, "micro-batches must be ≥ 1");
        }
        var gradients = Flat.Gradients;
        var start = Stopwatch.GetTimestamp();
        if (Overlap is { Armed: true })
        {
            Overlap.Finish();
            LastBusy = Overlap.LastBusy;
        }
        else
        {
            BindBuckets(gradients);
            if (_collective.WorldSize > 1)
            {
                AllReduceBuckets();
            }
            LastBusy = Stopwatch.GetElapsedTime(start);
        }
        var divisor = _collective.WorldSize * microBatches;
        if (DeferScaling)
        {
            GradientScale = 1.0 / divisor;
        }
        else if (divisor > 1)
        {
            gradients.div_(divisor);
        }
    }

    /// <inheritdoc />
    public void Dispose() => DisposeBuckets();

    /// <summary>
    /// Sums every bucket over the ranks with at most <see cref="MaxBucketsInFlight"/> nonblocking
    /// all-reduces outstanding; the last bucket (or a single one) uses the blocking call, since
    /// nothing is left to overlap it with.
    /// </summary>
    private void AllReduceBuckets()
    {
        var window = Math.Max(1, MaxBucketsInFlight);
        var last = _bucketViews.Count - 1;
        for (var b = 0; b < last; b++)
        {
            if (b >= window)
            {
                _requests[b - window].Wait();
            }
            _requests[b] = _collective.AllReduceAsync(_bucketViews[b], ReduceOp.Sum);
        }
        for (var b = Math.Max(0, last - window); b < last; b++)
        {
            _requests[b].Wait();
        }
        _collective.AllReduce(_bucketViews[last], ReduceOp.Sum);
    }

    private void BindBuckets(torch.Tensor gradients)
    {
        if (ReferenceEquals(gradients, _boundGradients))
        {
            return;
        }
        DisposeBuckets();
        foreach (var (start, length) in _plan)
        {
            // Bucket views outlive any dispose scope the caller's step runs in.
            _bucketViews.Add(gradients.narrow(0, start, length).DetachFromDisposeScope());
        }
        _boundGradients = gradients;
    }

    private void DisposeBuckets()
    {
        foreach (var v in _bucketViews)
        {
            v.Dispose();
        }
        _bucketViews.Clear();
        _boundGradients = null;
    }
}
