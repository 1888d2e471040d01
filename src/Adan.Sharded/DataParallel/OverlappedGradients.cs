using System.Diagnostics;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.DataParallel;

/// <summary>
/// Reduces the flat gradient buffer bucket by bucket while backward still runs: each bucket's nonblocking collective
/// (all-reduce, or reduce-scatter into the owners' shards) starts as soon as backward has produced every gradient in
/// it, and <see cref="Finish"/> launches what is left and waits only for what is still in flight.
/// </summary>
/// <remarks>
/// <para>
/// How it knows: a forward pre-hook on every module that owns parameters directly wraps the module's input in
/// <see cref="GradientReadySignal"/>, whose backward runs once the module's backward has (its parameter gradients
/// accumulated into the flat buffer). <see cref="BucketReadiness"/> counts calls and tied owners. Hooks run when a
/// module is invoked with <c>call</c>; a module run with <c>forward</c> directly, or whose input needs no gradient (the
/// first layer), is not tracked, and its buckets are launched by <see cref="Finish"/>. Results equal the blocking
/// reduction's: the same sums into the same places.
/// </para>
/// <para>
/// Use: <see cref="Arm"/> before the forward pass of the last micro-batch of a step (earlier micro-batches only
/// accumulate, with no communication), then backward, then the optimizer calls <see cref="Finish"/>. MPI progresses a
/// nonblocking collective only inside MPI calls; each gradient-ready callback tests the requests in flight, which is
/// what moves them along while backward computes. The first finished pass fixes the launch order to the order backward
/// completed the buckets on rank 0 (one small all-reduce, once), as PyTorch DDP rebuilds its buckets after the first
/// iteration; before that the order is the buckets' (the last parameters first).
/// </para>
/// <para>
/// Parameters must keep their gradients bound to the flat buffer (not
/// <see cref="FlatParameters.TrackUnusedParameters"/>). A parameter that a model uses outside the forward of the
/// module owning it, before calling that module, is not covered by the module's signal; such models should run with
/// overlap off (see docs/architecture.md).
/// </para>
/// </remarks>
public sealed class OverlappedGradients : IDisposable
{
    private readonly ICollective _collective;
    private readonly BucketReadiness _readiness;
    private readonly torch.Tensor[] _views;
    private readonly int[][]? _counts;
    private readonly ICollectiveRequest[] _requests;
    private readonly int[] _inFlight;
    private readonly List<int> _launch = new();
    private readonly List<Action> _removeHooks = new();
    private readonly long[] _agreedOrder;
    private int _launched;
    private int _completed;
    private long _busyFrom;
    private TimeSpan _busy;
    private TimeSpan _waitedInBackward;
    private bool _orderAgreed;
    private bool _releaseNonOwned;
    private int _inFlightCap = MaxInFlightWhenReleasing;

    /// <summary>Installs the hooks on <paramref name="module"/>'s modules and plans the buckets.</summary>
    /// <param name="module">The model whose parameters <paramref name="flat"/> holds.</param>
    /// <param name="flat">The flat parameters, gradients bound to the flat buffer.</param>
    /// <param name="collective">The communicator.</param>
    /// <param name="reduction">All-reduce (replicated state, ZeRO-0) or reduce-scatter into each rank's shard (ZeRO-1/2).</param>
    /// <param name="bucketBytes">Size of a bucket (<see cref="GradientBuckets.InGradientOrder"/>).</param>
    public OverlappedGradients(nn.Module module, FlatParameters flat, ICollective collective, GradientReduction reduction,
        long bucketBytes = GradientBuckets.DefaultBucketBytes)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(collective);
        if (flat.TrackUnusedParameters)
        {
            throw new ArgumentException("overlapped gradient reduction needs gradients bound to the flat buffer; build FlatParameters without trackUnusedParameters or turn overlap off.",
                nameof(flat));
        }
        if (flat.Layout.WorldSize != collective.WorldSize)
        {
            throw new ArgumentException(
                $"the flat layout is padded for {flat.Layout.WorldSize} ranks but the job has {collective.WorldSize}; build FlatParameters with the job's world size.");
        }
        Flat = flat;
        Reduction = reduction;
        _collective = collective;
        Buckets = GradientBuckets.InGradientOrder(flat.Layout, bucketBytes);
        _readiness = new BucketReadiness(Buckets, flat.Parameters.Count, InstallHooks(module, flat));
        _views = Buckets.Select(b => flat.Gradients.narrow(0, b.Start, b.Length).DetachFromDisposeScope()).ToArray();
        if (reduction == GradientReduction.ReduceScatter)
        {
            _counts = Buckets.Select(b => CountsPerRank(b, flat.Layout)).ToArray();
        }
        _requests = new ICollectiveRequest[Buckets.Count];
        _inFlight = new int[Buckets.Count];
        _agreedOrder = new long[Buckets.Count];
    }

    /// <summary>The flat parameters whose gradients are reduced.</summary>
    public FlatParameters Flat { get; }

    /// <summary>The collective each bucket uses.</summary>
    public GradientReduction Reduction { get; }

    /// <summary>The buckets (contiguous ranges of the flat gradient buffer).</summary>
    public IReadOnlyList<GradientBucket> Buckets { get; }

    /// <summary>The order buckets are launched in (indices into <see cref="Buckets"/>).</summary>
    public IReadOnlyList<int> LaunchOrder => _readiness.LaunchOrder;

    /// <summary>Modules that got the gradient-ready hook (those owning parameters directly and taking one tensor).</summary>
    public int HookedModules { get; private set; }

    /// <summary>
    /// ZeRO-2: as soon as a bucket's reduce-scatter completes (a test while backward runs, or a wait), return the
    /// bucket's whole pages outside this rank's shard to the kernel (<see cref="FlatParameters.ReleaseGradients"/>):
    /// nothing reads them again this step. Launching a bucket then first waits until fewer than
    /// <see cref="MaxInFlightWhenReleasing"/> are in flight, so the gradients of shards this rank does not own are
    /// resident only while their bucket is written or among those in flight. Reduce-scatter only.
    /// </summary>
    /// <remarks>
    /// The bound is what makes the release pay: MPICH moves a nonblocking collective only inside MPI calls, and the
    /// tests from the gradient-ready callbacks (a few per backward pass) completed none of 150 buckets of 256 KiB before
    /// <see cref="Finish"/> (W = 2, a 16-layer MLP of 9.4 M parameters), so without it every gradient page was resident
    /// at the end of backward, as with ZeRO-1.
    /// </remarks>
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

    /// <summary>The default of <see cref="InFlightCapWhenReleasing"/>.</summary>
    public const int MaxInFlightWhenReleasing = 2;

    /// <summary>
    /// Buckets in flight at most while <see cref="ReleaseNonOwnedGradients"/> is on (default
    /// <see cref="MaxInFlightWhenReleasing"/>): a higher cap waits less during backward and holds more pages.
    /// </summary>
    public int InFlightCapWhenReleasing
    {
        get => _inFlightCap;
        set => _inFlightCap = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "at least one bucket must be allowed in flight");
    }

    /// <summary>Whether the current backward pass is tracked (between <see cref="Arm"/> and <see cref="Finish"/>).</summary>
    public bool Armed { get; private set; }

    /// <summary>Buckets launched so far in the current pass (or the last one).</summary>
    public int Launched => _launched;

    /// <summary>Of the last finished pass: buckets launched while backward ran, before <see cref="Finish"/>.</summary>
    public int LastLaunchedDuringBackward { get; private set; }

    /// <summary>
    /// Of the last finished pass: how long <see cref="Finish"/> blocked, plus how long launches waited for buckets in
    /// flight under <see cref="MaxInFlightWhenReleasing"/> (the exposed communication).
    /// </summary>
    public TimeSpan LastWait { get; private set; }

    /// <summary>
    /// Of the last finished pass: how long at least one bucket was in flight, from its launch until a test or wait
    /// saw it complete.
    /// </summary>
    public TimeSpan LastBusy { get; private set; }

    /// <summary>Tracks the next backward pass: call before the forward pass of a step's last micro-batch.</summary>
    public void Arm()
    {
        if (_completed < _launched)
        {
            throw new InvalidOperationException("the previous pass still has buckets in flight; call Finish before arming again.");
        }
        _readiness.Begin();
        _launched = 0;
        _completed = 0;
        _busy = TimeSpan.Zero;
        _waitedInBackward = TimeSpan.Zero;
        Armed = true;
    }

    /// <summary>
    /// Launches every bucket backward has not, waits for all of them, and disarms. The gradients are then summed over
    /// the ranks (all-reduce) or each rank's shard holds its sums (reduce-scatter), unscaled.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void Finish()
    {
        if (!Armed)
        {
            throw new InvalidOperationException("Finish without Arm: arm before the forward pass of the step's last micro-batch.");
        }
        var start = Stopwatch.GetTimestamp();
        LastLaunchedDuringBackward = _launched;
        _launch.Clear();
        _readiness.LaunchRemaining(_launch);
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
        LastWait = Stopwatch.GetElapsedTime(start) + _waitedInBackward;
    }

    /// <summary>Removes the hooks.</summary>
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
    }

    /// <summary>From <see cref="GradientReadySignal"/>: one call of module <paramref name="module"/> has its gradients.</summary>
    internal void ModuleDone(int module)
    {
        if (!Armed)
        {
            return;
        }
        _launch.Clear();
        _readiness.Done(module, _launch);
        foreach (var b in _launch)
        {
            Launch(b);
        }
        Progress();
    }

    private void Launch(int bucket)
    {
        if (_releaseNonOwned && _launched - _completed >= _inFlightCap)
        {
            var waitFrom = Stopwatch.GetTimestamp();
            while (_launched - _completed >= _inFlightCap)
            {
                _requests[_completed].Wait();
                Completed();
            }
            _waitedInBackward += Stopwatch.GetElapsedTime(waitFrom);
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

    private void Progress()
    {
        while (_completed < _launched && _requests[_completed].Test())
        {
            Completed();
        }
    }

    private void Completed()
    {
        if (_releaseNonOwned)
        {
            var bucket = Buckets[_inFlight[_completed]];
            var layout = Flat.Layout;
            Flat.ReleaseGradients(bucket.Start, bucket.End, layout.ShardStart(_collective.Rank), layout.ShardSize);
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
        var observed = _readiness.ObservedOrder;
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
            // A module of another signature keeps its parameters untracked: they are launched by Finish.
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
        _readiness.Called(module);
        return input.requires_grad ? GradientReadySignal.Wrap(input, this, module) : input;
    }

    /// <summary>How many of the bucket's elements fall in each rank's shard: the counts of its reduce-scatter.</summary>
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
}
