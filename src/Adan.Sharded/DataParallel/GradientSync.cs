using System.Diagnostics;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.DataParallel;

/// <summary>
/// The one gradient path of data-parallel training, as PyTorch has one <c>Reducer</c>: sums the flat gradient buffer
/// over the ranks, either after backward or, when built with the model, bucket by bucket while backward still runs.
/// <see cref="GradientReduction.AllReduce"/> leaves every rank the sums of the whole buffer (ZeRO stage 0, plain data
/// parallelism); <see cref="GradientReduction.ReduceScatter"/> leaves each rank the sums of its own block, the shard
/// [ShardStart(r), ShardStart(r) + ShardSize) of the layout (ZeRO-1/2).
/// </summary>
/// <remarks>
/// <para>
/// [Note: two ways to reduce] <see cref="Synchronize"/> finishes the pass that <see cref="Arm"/> started, or, with
/// nothing armed, reduces now: an all-reduce in buckets with at most <see cref="MaxBucketsInFlight"/> outstanding, or
/// one in-place reduce-scatter of the whole buffer into this rank's block (one collective, as llm.c's ZeRO: nothing
/// is left to overlap buckets with). Gradient accumulation needs no communication: k backward passes add into the
/// flat buffer and only the step's last one is reduced. The sums stay unscaled; <see cref="Synchronize"/> returns the
/// 1/(W·k) they still need, which the optimizer folds into its own gradient coefficient (one pass over the gradients
/// saved, D1).
/// </para>
/// <para>
/// [Note: the ready signal] Built with the model (<c>overlapWith</c>), a forward pre-hook on every module that owns
/// parameters directly wraps the module's input in <see cref="GradientReadySignal"/>, whose backward runs once the
/// module's backward has (its parameter gradients accumulated into the flat buffer). <see cref="BucketReadiness"/>
/// counts calls and tied owners; each bucket's nonblocking collective starts as soon as backward has produced every
/// gradient in it. Hooks run when a module is invoked with <c>call</c>; a module run with <c>forward</c> directly, or
/// whose input needs no gradient (the first layer), is not tracked, and its buckets are launched by
/// <see cref="Synchronize"/>. Results equal the reduction after backward: the same sums into the same places.
/// </para>
/// <para>
/// Use: <see cref="Arm"/> before the forward pass of the last micro-batch of a step, then backward, then
/// <see cref="Synchronize"/> (the optimizer's step calls it). MPI progresses a nonblocking collective only inside MPI
/// calls; each gradient-ready callback tests the requests in flight, which is what moves them along while backward
/// computes. The first finished pass fixes the launch order to the order backward completed the buckets on rank 0
/// (one small all-reduce, once), as PyTorch DDP rebuilds its buckets after the first iteration; before that the order
/// is the buckets' (the last parameters first). The model's parameters must keep their gradients bound to the flat
/// buffer (not <see cref="FlatParameters.TrackUnusedParameters"/>). A parameter that a model uses outside the forward
/// of the module owning it, before calling that module, is not covered by the module's signal; such models should
/// run without overlap (see docs/architecture.md).
/// </para>
/// <para>
/// [Note: the local norm] With <see cref="MeasureLocalNorm"/> each rank also takes Σ g² of its own gradient before the
/// reduction overwrites it (the small-batch half of the gradient noise scale, issue 25): over this rank's block for a
/// reduce-scatter (each bucket's part in the block read just before the bucket is launched, so ZeRO-2's released pages
/// are never read and 1/W of a pass is spent), over the whole buffer for an all-reduce (a full extra pass).
/// </para>
/// <para>
/// [Note: mixed precision] Under bf16-mixed (<see cref="FlatParameters.IsMixedPrecision"/>) backward writes the bf16
/// compute gradients, and each bucket, just before its collective, is brought into the buffer that
/// <see cref="ReduceType"/> reduces: fp32 (the default) adds the bucket's bf16 gradients into the fp32 master, whose
/// sums the collective then forms as under fp32; bf16 rounds the bucket's fp32 sum (earlier micro-batches plus this one)
/// into the compute buffer, reduces that (half the bytes, partial sums rounded to bf16 as they travel) and widens the
/// result into the master when the bucket completes. The local norm is read from the fp32 master either way.
/// </para>
/// </remarks>
public sealed class GradientSync : IDisposable
{
    /// <summary>The default of <see cref="MaxBucketsInFlight"/>.</summary>
    public const int DefaultMaxBucketsInFlight = 2;

    private readonly ICollective _collective;
    private readonly BucketReadiness? _readiness;
    private readonly torch.Tensor[] _views;
    private readonly torch.Tensor? _block;
    private readonly torch.Tensor? _masterBlock;
    private readonly bool _ownsLocalViews;
    private readonly long _blockStart;
    private readonly long _blockLength;
    private readonly int[][]? _counts;
    private readonly torch.Tensor?[] _localViews;
    private readonly torch.Tensor? _deviceLocalSum;
    private double _localSum;
    private readonly ICollectiveRequest[] _requests;
    private readonly int[] _inFlight;
    private readonly List<int> _launch = new();
    private readonly List<Action> _removeHooks = new();
    private readonly long[] _agreedOrder;
    private int _launched;
    private int _completed;
    private long _busyFrom;
    private TimeSpan _busy;
    private bool _orderAgreed;
    private bool _releaseNonOwned;
    private int _maxInFlight = DefaultMaxBucketsInFlight;

    /// <summary>Plans the buckets over the flat gradient buffer and, given the model, installs the ready signal.</summary>
    /// <param name="flat">The flat parameters, laid out for the job's world size.</param>
    /// <param name="collective">The communicator.</param>
    /// <param name="reduction">All-reduce (replicated state, ZeRO-0) or reduce-scatter into each rank's block (ZeRO-1/2).</param>
    /// <param name="bucketBytes">Size of a bucket (<see cref="GradientBuckets.InGradientOrder"/>).</param>
    /// <param name="overlapWith">
    /// The model whose parameters <paramref name="flat"/> holds, to reduce while its backward runs (<see cref="Arm"/>);
    /// null reduces after backward only.
    /// </param>
    /// <param name="reduceType">
    /// The dtype gradients travel in: Float32 (default), or BFloat16 where <paramref name="flat"/> computes in bf16
    /// (see the note on mixed precision).
    /// </param>
    public GradientSync(FlatParameters flat, ICollective collective, GradientReduction reduction, long bucketBytes = GradientBuckets.DefaultBucketBytes,
        nn.Module? overlapWith = null, ScalarType reduceType = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(collective);
        if (reduction is not (GradientReduction.AllReduce or GradientReduction.ReduceScatter))
        {
            throw new ArgumentException($"Invalid gradient reduction: {reduction}; it must be AllReduce or ReduceScatter.", nameof(reduction));
        }
        if (flat.Layout.WorldSize != collective.WorldSize)
        {
            throw new ArgumentException(
                $"the flat layout is padded for {flat.Layout.WorldSize} ranks but the job has {collective.WorldSize}; build FlatParameters with the job's world size.");
        }
        if (overlapWith is not null && flat.TrackUnusedParameters)
        {
            throw new ArgumentException("overlapped gradient reduction needs gradients bound to the flat buffer; build FlatParameters without trackUnusedParameters or turn overlap off.",
                nameof(flat));
        }
        if (reduceType is not (ScalarType.Float32 or ScalarType.BFloat16))
        {
            throw new ArgumentException($"Invalid reduce dtype: {reduceType}; it must be Float32 or BFloat16.", nameof(reduceType));
        }
        if (reduceType == ScalarType.BFloat16 && flat.ComputeType != ScalarType.BFloat16)
        {
            throw new ArgumentException("reducing in bf16 needs bf16 gradients; bind the parameters with ComputePrecision.Bf16Mixed or reduce in Float32.",
                nameof(reduceType));
        }
        Flat = flat;
        Reduction = reduction;
        ReduceType = reduceType;
        _collective = collective;
        Buckets = GradientBuckets.InGradientOrder(flat.Layout, bucketBytes);
        var reduced = reduceType == ScalarType.Float32 ? flat.Gradients : flat.ComputeGradients;
        // Views made once: they outlive any dispose scope the caller's step runs in, and no step allocates them.
        _views = Buckets.Select(b => reduced.narrow(0, b.Start, b.Length).DetachFromDisposeScope()).ToArray();
        if (reduction == GradientReduction.ReduceScatter)
        {
            _blockStart = flat.Layout.ShardStart(collective.Rank);
            _blockLength = flat.Layout.ShardSize;
            _block = reduced.narrow(0, _blockStart, _blockLength).DetachFromDisposeScope();
            _masterBlock = flat.Gradients.narrow(0, _blockStart, _blockLength).DetachFromDisposeScope();
            _counts = Buckets.Select(b => CountsPerRank(b, flat.Layout)).ToArray();
            _localViews = Buckets.Select(b => OwnPart(b, flat, _blockStart, _blockLength)).ToArray();
            _ownsLocalViews = true;
        }
        else if (reduceType == ScalarType.Float32)
        {
            _localViews = _views;
        }
        else
        {
            _localViews = Buckets.Select(b => flat.Gradients.narrow(0, b.Start, b.Length).DetachFromDisposeScope()).ToArray();
            _ownsLocalViews = true;
        }
        if (flat.Gradients.device_type != DeviceType.CPU)
        {
            _deviceLocalSum = torch.zeros(1, dtype: torch.float64, device: flat.Gradients.device).DetachFromDisposeScope();
        }
        _requests = new ICollectiveRequest[Buckets.Count];
        _inFlight = new int[Buckets.Count];
        _agreedOrder = new long[Buckets.Count];
        if (overlapWith is not null)
        {
            _readiness = new BucketReadiness(Buckets, flat.Parameters.Count, InstallHooks(overlapWith, flat));
        }
    }

    /// <summary>The flat parameters whose gradients are reduced.</summary>
    public FlatParameters Flat { get; }

    /// <summary>The collective each bucket uses.</summary>
    public GradientReduction Reduction { get; }

    /// <summary>The dtype gradients travel in (Float32, or BFloat16 under bf16-mixed with <c>reduce_dtype=bf16</c>).</summary>
    public ScalarType ReduceType { get; }

    /// <summary>Bytes of the buffer one step's reduction sums: the layout's elements in <see cref="ReduceType"/>.</summary>
    public long ReducedBytes => Flat.Layout.TotalNumel * (ReduceType == ScalarType.Float32 ? sizeof(float) : 2);

    /// <summary>The buckets (contiguous ranges of the flat gradient buffer), in their default launch order.</summary>
    public IReadOnlyList<GradientBucket> Buckets { get; }

    /// <summary>Whether the ready signal is installed (built with the model): passes can be armed to reduce while backward runs.</summary>
    public bool OverlapsBackward => _readiness is not null;

    /// <summary>Modules that got the gradient-ready hook (those owning parameters directly and taking one tensor).</summary>
    public int HookedModules { get; private set; }

    /// <summary>
    /// How many bucket collectives may be outstanding at once (default <see cref="DefaultMaxBucketsInFlight"/>) where a
    /// bound is kept: reducing after backward, and an armed pass under <see cref="ReleaseNonOwnedGradients"/>. An
    /// armed pass that keeps its pages launches each bucket as soon as it is ready, since a wait would stall backward.
    /// </summary>
    /// <remarks>
    /// After backward, more in flight gains nothing and, measured on MPICH's shared-memory transport, streams through
    /// more memory than the caches hold: at 256 MiB on 2 ranks, all 11 buckets in flight reached 0.83× one blocking
    /// all-reduce of the whole buffer, a window of 2 reached 1.2×. While releasing, the bound is what makes the release
    /// pay: MPICH moves a nonblocking collective only inside MPI calls, and the tests from the gradient-ready callbacks
    /// completed none of 150 buckets of 256 KiB before the end of backward (W = 2, a 16-layer MLP of 9.4 M
    /// parameters), so without it every gradient page was resident at the end of backward, as with ZeRO-1. A higher
    /// bound waits less during backward and holds more pages (D20).
    /// </remarks>
    public int MaxBucketsInFlight
    {
        get => _maxInFlight;
        set => _maxInFlight = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "at least one bucket must be allowed in flight");
    }

    /// <summary>
    /// ZeRO-2: return the gradient pages outside this rank's block to the kernel (<see cref="FlatParameters.ReleaseGradients"/>)
    /// as soon as a bucket's reduce-scatter completes (a test while backward runs, or a wait), and every page left
    /// outside the block when <see cref="Synchronize"/> ends (<see cref="FlatParameters.DecommitGradients"/>): nothing
    /// reads them again this step. An armed pass then launches a bucket only once fewer than
    /// <see cref="MaxBucketsInFlight"/> are in flight, so the gradients of blocks this rank does not own are resident
    /// only while their bucket is written or among those in flight. The sharded optimizer turns it on for ZeRO-2.
    /// Reduce-scatter only.
    /// </summary>
    public bool ReleaseNonOwnedGradients
    {
        get => _releaseNonOwned;
        set
        {
            if (value && Reduction != GradientReduction.ReduceScatter)
            {
                throw new InvalidOperationException("only a reduce-scatter leaves gradients this rank does not own; an all-reduce keeps every bucket.");
            }
            _releaseNonOwned = value;
        }
    }

    /// <summary>
    /// Whether <see cref="Synchronize"/> takes Σ g² of this rank's own gradient before reducing it
    /// (<see cref="LastLocalSumOfSquares"/>); off by default. With one rank nothing is measured: the local gradient is
    /// the reduced one.
    /// </summary>
    public bool MeasureLocalNorm { get; set; }

    /// <summary>
    /// From the last <see cref="Synchronize"/> under <see cref="MeasureLocalNorm"/> with W ≥ 2: Σ g² of this rank's
    /// unreduced gradient buffer (the sum of its accumulated backward passes, unscaled) over its own block for a
    /// reduce-scatter, over the whole buffer for an all-reduce; 0 otherwise.
    /// </summary>
    public double LastLocalSumOfSquares { get; private set; }

    /// <summary>Whether the current backward pass is tracked (between <see cref="Arm"/> and <see cref="Synchronize"/>).</summary>
    public bool Armed { get; private set; }

    /// <summary>Buckets the armed pass has launched so far (or the last armed pass launched).</summary>
    public int Launched => _launched;

    /// <summary>Of the last armed pass: buckets launched while backward ran, before <see cref="Synchronize"/>.</summary>
    public int LastLaunchedDuringBackward { get; private set; }

    /// <summary>
    /// How long the last <see cref="Synchronize"/> had collectives in flight: after backward, the reduction; for an
    /// armed pass, from a bucket's launch until a test or wait saw it complete, mostly while backward ran.
    /// </summary>
    public TimeSpan LastBusy { get; private set; }

    /// <summary>Tracks the next backward pass: call before the forward pass of a step's last micro-batch.</summary>
    /// <exception cref="InvalidOperationException">Built without the model, or the last armed pass was not synchronised.</exception>
    public void Arm()
    {
        if (_readiness is null)
        {
            throw new InvalidOperationException("this gradient sync was built without the model, so nothing signals when gradients are ready; build it with overlapWith: model, or only call Synchronize.");
        }
        if (_completed < _launched)
        {
            throw new InvalidOperationException("the previous pass still has buckets in flight; call Synchronize before arming again.");
        }
        _readiness.Begin();
        _launched = 0;
        _completed = 0;
        _busy = TimeSpan.Zero;
        _localSum = 0;
        Armed = true;
    }

    /// <summary>
    /// Sums the flat gradients over the ranks: finishes the armed pass (launches every bucket backward has not, waits
    /// for all of them, disarms), or, with nothing armed, reduces now. The whole buffer (all-reduce) or this rank's
    /// block (reduce-scatter) then holds the sums of <paramref name="microBatches"/> accumulated backward passes of
    /// every rank, unscaled.
    /// </summary>
    /// <param name="microBatches">Backward passes accumulated into the buffer on each rank since it was zeroed.</param>
    /// <returns>The factor 1/(W·k) that turns the sums into the average gradient.</returns>
    /// <remarks>Collective: every rank must call.</remarks>
    public double Synchronize(int microBatches = 1)
    {
        if (microBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatches), microBatches, "micro-batches must be ≥ 1");
        }
        var measure = MeasureLocalNorm && _collective.WorldSize > 1;
        if (Armed)
        {
            Finish();
        }
        else
        {
            var start = Stopwatch.GetTimestamp();
            Prepare(0, Flat.Layout.TotalNumel);
            if (measure)
            {
                _localSum = 0;
                AddLocal(_masterBlock ?? Flat.Gradients);
            }
            if (_block is not null)
            {
                // In place for ZeRO-1 and ZeRO-2 alike: ZeRO-2 then returns every gradient page outside the block.
                _collective.ReduceScatter(ReducedBuffer, _block, ReduceOp.Sum);
                Reduced(_blockStart, _blockStart + _blockLength);
            }
            else if (_collective.WorldSize > 1)
            {
                AllReduceBuckets();
                Reduced(0, Flat.Layout.TotalNumel);
            }
            else
            {
                Reduced(0, Flat.Layout.TotalNumel);
            }
            LastBusy = Stopwatch.GetElapsedTime(start);
        }
        if (_releaseNonOwned)
        {
            Flat.DecommitGradients(_blockStart, _blockLength);
        }
        LastLocalSumOfSquares = measure ? LocalSum() : 0;
        return 1.0 / ((double)_collective.WorldSize * microBatches);
    }

    /// <summary>Removes the hooks and frees the bucket views.</summary>
    public void Dispose()
    {
        foreach (var remove in _removeHooks)
        {
            remove();
        }
        _removeHooks.Clear();
        foreach (var v in _views)
        {
            v.Dispose();
        }
        _block?.Dispose();
        _masterBlock?.Dispose();
        if (_ownsLocalViews)
        {
            foreach (var v in _localViews)
            {
                v?.Dispose();
            }
        }
        _deviceLocalSum?.Dispose();
    }

    /// <summary>From <see cref="GradientReadySignal"/>: one call of module <paramref name="module"/> has its gradients.</summary>
    internal void ModuleDone(int module)
    {
        if (!Armed)
        {
            return;
        }
        _launch.Clear();
        _readiness!.Done(module, _launch);
        foreach (var b in _launch)
        {
            Launch(b);
        }
        Progress();
    }

    /// <summary>How many of the bucket's elements fall in each rank's block: the counts of its reduce-scatter.</summary>
    internal static int[] CountsPerRank(GradientBucket bucket, FlatLayout layout)
    {
        var counts = new int[layout.WorldSize];
        for (var r = 0; r < counts.Length; r++)
        {
            var from = Math.Max(bucket.Start, layout.ShardStart(r));
            var to = Math.Min(bucket.End, layout.ShardStart(r) + layout.ShardSize);
            counts[r] = (int)Math.Max(0, to - from);
        }
        return counts;
    }

    /// <summary>The end of an armed pass.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private void Finish()
    {
        LastLaunchedDuringBackward = _launched;
        _launch.Clear();
        _readiness!.LaunchRemaining(_launch);
        foreach (var b in _launch)
        {
            Launch(b);
        }
        while (_completed < _launched)
        {
            _requests[_completed].Wait();
            Completed();
        }
        Armed = false;
        if (!_orderAgreed)
        {
            AgreeOnOrder();
        }
        LastBusy = _busy;
    }

    /// <summary>
    /// After backward: sums every bucket over the ranks with at most <see cref="MaxBucketsInFlight"/> nonblocking
    /// all-reduces outstanding; the last bucket (or a single one) uses the blocking call, since nothing is left to
    /// overlap it with.
    /// </summary>
    private void AllReduceBuckets()
    {
        var window = _maxInFlight;
        var last = _views.Length - 1;
        for (var b = 0; b < last; b++)
        {
            if (b >= window)
            {
                _requests[b - window].Wait();
            }
            _requests[b] = _collective.AllReduceAsync(_views[b], ReduceOp.Sum);
        }
        for (var b = Math.Max(0, last - window); b < last; b++)
        {
            _requests[b].Wait();
        }
        _collective.AllReduce(_views[last], ReduceOp.Sum);
    }

    private void Launch(int bucket)
    {
        while (_releaseNonOwned && _launched - _completed >= _maxInFlight)
        {
            _requests[_completed].Wait();
            Completed();
        }
        Prepare(Buckets[bucket].Start, Buckets[bucket].End);
        if (MeasureLocalNorm && _collective.WorldSize > 1 && _localViews[bucket] is { } local)
        {
            // Before the launch: the collective overwrites this rank's part with the sums.
            AddLocal(local);
        }
        if (_completed == _launched)
        {
            _busyFrom = Stopwatch.GetTimestamp();
        }
        _inFlight[_launched] = bucket;
        _requests[_launched++] = _counts is null
            ? _collective.AllReduceAsync(_views[bucket], ReduceOp.Sum)
            : _collective.ReduceScatterAsync(_views[bucket], _counts[bucket], ReduceOp.Sum);
    }

    private void AddLocal(torch.Tensor values)
    {
        if (_deviceLocalSum is null)
        {
            _localSum += SumOfSquares.OfStatistic(values, "gradient");
        }
        else
        {
            SumOfSquares.AddTo(values, _deviceLocalSum);
        }
    }

    private double LocalSum()
    {
        if (_deviceLocalSum is null)
        {
            return _localSum;
        }
        var sum = _deviceLocalSum.item<double>();
        _deviceLocalSum.zero_();
        return sum;
    }

    /// <summary>The part of a bucket inside this rank's block, or null when it has none.</summary>
    private static torch.Tensor? OwnPart(GradientBucket bucket, FlatParameters flat, long blockStart, long blockLength)
    {
        var from = Math.Max(bucket.Start, blockStart);
        var to = Math.Min(bucket.End, blockStart + blockLength);
        return to > from ? flat.Gradients.narrow(0, from, to - from).DetachFromDisposeScope() : null;
    }

    private torch.Tensor ReducedBuffer => ReduceType == ScalarType.Float32 ? Flat.Gradients : Flat.ComputeGradients;

    /// <summary>Brings [start, end) of backward's gradients into the buffer the collective reduces (mixed precision only).</summary>
    private void Prepare(long start, long end)
    {
        if (!Flat.IsMixedPrecision)
        {
            return;
        }
        if (ReduceType == ScalarType.Float32)
        {
            Flat.WidenGradients(start, end);
        }
        else
        {
            Flat.NarrowGradients(start, end);
        }
    }

    /// <summary>The sums of [start, end) are in the reduced buffer: a bf16 reduction widens them into the master.</summary>
    private void Reduced(long start, long end)
    {
        if (ReduceType != ScalarType.Float32)
        {
            Flat.CopyReducedGradients(start, end);
        }
    }

    private void Progress()
    {
        while (_completed < _launched && _requests[_completed].Test())
        {
            Completed();
        }
    }

    private void Completed()
    {
        var bucket = Buckets[_inFlight[_completed]];
        if (_counts is null)
        {
            Reduced(bucket.Start, bucket.End);
        }
        else
        {
            Reduced(Math.Max(bucket.Start, _blockStart), Math.Min(bucket.End, _blockStart + _blockLength));
        }
        if (_releaseNonOwned)
        {
            Flat.ReleaseGradients(bucket.Start, bucket.End, _blockStart, _blockLength);
        }
        _requests[_completed++] = null!;
        if (_completed == _launched)
        {
            _busy += Stopwatch.GetElapsedTime(_busyFrom);
        }
    }

    /// <summary>Every rank adopts the order in which backward completed the buckets on rank 0.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private void AgreeOnOrder()
    {
        var observed = _readiness!.ObservedOrder;
        for (var i = 0; i < _agreedOrder.Length; i++)
        {
            _agreedOrder[i] = _collective.Rank == 0 ? observed[i] : 0;
        }
        _collective.AllReduce(_agreedOrder.AsSpan(), ReduceOp.Sum);
        _readiness.UseOrder(_agreedOrder.Select(b => (int)b).ToArray());
        _orderAgreed = true;
    }

    private IReadOnlyList<int[]> InstallHooks(nn.Module root, FlatParameters flat)
    {
        var indexOf = new Dictionary<IntPtr, int>();
        for (var i = 0; i < flat.Parameters.Count; i++)
        {
            indexOf[flat.Parameters[i].Handle] = i;
        }
        var owned = new List<int[]>();
        var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        foreach (var m in root.named_modules().Select(n => n.Item2).Prepend(root))
        {
            if (!seen.Add(m))
            {
                continue;
            }
            var parameters = m.named_parameters(false).Select(p => indexOf.TryGetValue(p.Item2.Handle, out var i) ? i : -1).Where(i => i >= 0)
                .ToArray();
            if (parameters.Length == 0)
            {
                continue;
            }
            var index = owned.Count;
            owned.Add(parameters);
            // A module of another signature keeps its parameters untracked: they are launched by Synchronize.
            if (m is nn.Module<Tensor, Tensor> single)
            {
                var hook = single.register_forward_pre_hook((_, input) => Called(index, input));
                _removeHooks.Add(hook.remove);
                HookedModules++;
            }
        }
        return owned;
    }

    private Tensor Called(int module, Tensor input)
    {
        if (!Armed)
        {
            return input;
        }
        _readiness!.Called(module);
        return input.requires_grad ? GradientReadySignal.Wrap(input, this, module) : input;
    }
}
