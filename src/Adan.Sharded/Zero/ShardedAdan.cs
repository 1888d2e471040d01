using System.Diagnostics;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>
/// Adan with its four state buffers sharded ZeRO-style over <see cref="FlatParameters"/>: rank r
/// owns the contiguous range [r·S, (r+1)·S) of the flat buffer (parameters may straddle ranks) and
/// keeps <c>exp_avg</c>, <c>exp_avg_sq</c>, <c>exp_avg_diff</c> and <c>neg_pre_grad</c> for that
/// range only. The result equals single-process <see cref="Optim.Adan"/> on the averaged gradients.
/// </summary>
/// <remarks>
/// One <see cref="Step"/>: reduce-scatter (sum) of the flat gradients → one small all-reduce of
/// [Σ g² over the shard, which parameters had a gradient on any rank] → skip everywhere if the
/// gradients are not finite → fused Adan update of the shard, with 1/(W·k) and the global-norm clip
/// folded into one gradient coefficient → all-gather of the flat parameters. The clip uses the
/// global norm (never a per-shard one, the trap of running the official optimizer under ZeRO).
/// Stage 0 keeps full state on every rank and all-reduces instead (for comparison).
/// </remarks>
public sealed class ShardedAdan : IDisposable
{
    private readonly ICollective _collective;
    private readonly GradientReducer _reducer;
    private readonly ShardedParamGroup[] _groups;
    private readonly int[] _groupOfParameter;
    private readonly ShardSegment[] _segments;
    private readonly bool[] _hasPreviousGradient;
    private readonly bool[] _hadGradient;
    private readonly double[] _stats;
    private readonly AdanScalars[] _scalars;
    private readonly torch.Tensor _expAvg;
    private readonly torch.Tensor _expAvgSq;
    private readonly torch.Tensor _expAvgDiff;
    private readonly torch.Tensor _negPreGrad;
    private readonly torch.Tensor _ownParameters;
    private readonly torch.Tensor _stateGradient;
    private readonly torch.Tensor _normGradient;
    private readonly bool[] _firstStep;
    private readonly AdanTensorStep? _tensorStep;

    /// <summary>Creates the optimizer with one group holding every parameter.</summary>
    public ShardedAdan(FlatParameters flat, ICollective collective, AdanGroupOptions options, double maxGradNorm = 0,
        ZeroStage stage = ZeroStage.OptimizerState, int maxConsecutiveSkips = 10, AdanKernelKind kernel = AdanKernelKind.Auto)
        : this(flat, collective, [(options, Enumerable.Range(0, flat.Parameters.Count).ToArray())], maxGradNorm, stage, maxConsecutiveSkips, kernel)
    {
    }

    /// <summary>Creates the optimizer with parameter groups given as (options, indices into the flat layout).</summary>
    /// <param name="flat">The flat parameters; the state lives on their device.</param>
    /// <param name="collective">The ranks' collective.</param>
    /// <param name="groups">The parameter groups.</param>
    /// <param name="maxGradNorm">Global-norm clipping threshold (0 = off).</param>
    /// <param name="stage">The ZeRO stage.</param>
    /// <param name="maxConsecutiveSkips">Consecutive non-finite steps tolerated.</param>
    /// <param name="kernel">
    /// The update: <see cref="AdanKernelKind.Fused"/> (CPU memory only), <see cref="AdanKernelKind.Reference"/> (tensor
    /// operations on the flat shard, any device), or <see cref="AdanKernelKind.Auto"/>: fused on the CPU, tensor
    /// operations elsewhere.
    /// </param>
    public ShardedAdan(FlatParameters flat, ICollective collective, IEnumerable<(AdanGroupOptions Options, int[] Parameters)> groups,
        double maxGradNorm = 0, ZeroStage stage = ZeroStage.OptimizerState, int maxConsecutiveSkips = 10, AdanKernelKind kernel = AdanKernelKind.Auto)
    {
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(collective);
        AdanValidation.MaxGradNorm(maxGradNorm);
        if (maxConsecutiveSkips < 1)
        {
            throw new ArgumentException($"Invalid max consecutive skips: {maxConsecutiveSkips}; it must be ≥ 1.", nameof(maxConsecutiveSkips));
        }
        if (stage is not (ZeroStage.Replicated or ZeroStage.OptimizerState or ZeroStage.Gradients))
        {
            throw new ArgumentException($"Invalid ZeRO stage: {(int)stage}; it must be 0, 1 or 2.", nameof(stage));
        }
        if (flat.Layout.WorldSize != collective.WorldSize)
        {
            throw new ArgumentException(
                $"the flat layout is padded for {flat.Layout.WorldSize} ranks but the job has {collective.WorldSize}; build FlatParameters with the job's world size.");
        }
        Flat = flat;
        _collective = collective;
        Stage = stage;
        MaxGradNorm = maxGradNorm;
        MaxConsecutiveSkips = maxConsecutiveSkips;

        _groupOfParameter = Enumerable.Repeat(-1, flat.Parameters.Count).ToArray();
        var groupList = new List<ShardedParamGroup>();
        foreach (var (options, indices) in groups)
        {
            options.Validate();
            foreach (var i in indices)
            {
                if (i < 0 || i >= flat.Parameters.Count)
                {
                    throw new ArgumentException($"parameter index {i} is out of range [0, {flat.Parameters.Count}).", nameof(groups));
                }
                if (_groupOfParameter[i] >= 0)
                {
                    throw new ArgumentException($"parameter '{flat.Layout.Entries[i].Name}' appears in more than one group.", nameof(groups));
                }
                _groupOfParameter[i] = groupList.Count;
            }
            groupList.Add(new ShardedParamGroup(options, indices));
        }
        if (groupList.Count == 0 || groupList.All(g => g.ParameterIndices.Count == 0))
        {
            throw new ArgumentException("optimizer got an empty parameter list; give it at least one parameter.", nameof(groups));
        }
        _groups = groupList.ToArray();
        _scalars = new AdanScalars[_groups.Length];

        StateStart = stage == ZeroStage.Replicated ? 0 : flat.Layout.ShardStart(collective.Rank);
        StateLength = stage == ZeroStage.Replicated ? flat.Layout.TotalNumel : flat.Layout.ShardSize;
        _segments = ShardSegment.Of(flat.Layout, StateStart, StateLength, _groupOfParameter);
        _hasPreviousGradient = new bool[flat.Parameters.Count];
        _hadGradient = new bool[flat.Parameters.Count];
        _stats = new double[1 + flat.Parameters.Count];

        var device = flat.Values.device;
        var onCpu = device.type == DeviceType.CPU;
        if (kernel == AdanKernelKind.Fused && !onCpu)
        {
            throw new ArgumentException($"the fused Adan kernel works on CPU memory and the flat buffers are on {device}; use kernel Auto or Reference.", nameof(kernel));
        }
        Kernel = kernel == AdanKernelKind.Auto ? (onCpu ? AdanKernelKind.Fused : AdanKernelKind.Reference) : kernel;
        _firstStep = new bool[flat.Parameters.Count];
        _expAvg = NewBuffer(StateLength, device);
        _expAvgSq = NewBuffer(StateLength, device);
        _expAvgDiff = NewBuffer(StateLength, device);
        _negPreGrad = NewBuffer(StateLength, device);
        _ownParameters = flat.Values.narrow(0, StateStart, StateLength).DetachFromDisposeScope();
        _stateGradient = flat.Gradients.narrow(0, StateStart, StateLength).DetachFromDisposeScope();
        _normGradient = flat.Gradients.narrow(0, flat.Layout.ShardStart(collective.Rank), flat.Layout.ShardSize).DetachFromDisposeScope();
        if (Kernel == AdanKernelKind.Reference)
        {
            _tensorStep = new AdanTensorStep(_ownParameters, _stateGradient, _expAvg, _expAvgSq, _expAvgDiff, _negPreGrad, _segments);
        }
        _reducer = new GradientReducer(flat, collective, stage, StateStart, StateLength);
    }

    /// <summary>The flat parameters this optimizer updates.</summary>
    public FlatParameters Flat { get; }

    /// <summary>The ZeRO stage.</summary>
    public ZeroStage Stage { get; }

    /// <summary>The update in use: <see cref="AdanKernelKind.Fused"/> (CPU kernel) or <see cref="AdanKernelKind.Reference"/> (tensor operations).</summary>
    public AdanKernelKind Kernel { get; }

    /// <summary>Global-norm clipping threshold (0 = off), taken over all groups as the official code does.</summary>
    public double MaxGradNorm { get; }

    /// <summary>Consecutive non-finite steps tolerated before <see cref="NonFiniteGradientException"/>.</summary>
    public int MaxConsecutiveSkips { get; }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ShardedParamGroup> Groups => _groups;

    /// <summary>First flat element whose state this rank keeps.</summary>
    public long StateStart { get; }

    /// <summary>Elements of state this rank keeps (S for ZeRO-1/2, the whole buffer for stage 0).</summary>
    public long StateLength { get; }

    /// <summary>Bytes of Adan state on this rank: exactly 4 buffers × 4 bytes × <see cref="StateLength"/>.</summary>
    public long StateBytes => 16 * StateLength;

    /// <summary>Padding elements inside this rank's state range (state kept for them but never used).</summary>
    public long PaddingInState => StateLength - _segments.Sum(s => s.Length);

    /// <summary>Steps skipped because the gradients were not finite.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Current run of consecutive skipped steps.</summary>
    public int ConsecutiveSkips { get; private set; }

    /// <summary>The global gradient norm of the last applied step (after averaging, before clipping).</summary>
    public double LastGradNorm { get; private set; }

    /// <summary>The clip coefficient of the last applied step (1 when not clipping).</summary>
    public double LastClipCoefficient { get; private set; } = 1.0;

    /// <summary>Where the last step's time went on this rank.</summary>
    public StepTimings LastTimings { get; private set; }

    /// <summary>
    /// How long the last step's gradient reduction had collectives in flight: with <see cref="Overlap"/> mostly while
    /// backward ran, so more than <see cref="StepTimings.Reduce"/>, the part the step waited for.
    /// </summary>
    public TimeSpan LastReduceBusy => _reducer.LastBusy;

    /// <summary>
    /// The overlapped reduction to wait for instead of reducing in <see cref="Step"/>, when it was armed for the step's
    /// last backward pass (null: reduce in the step). It must use <see cref="GradientReduction.AllReduce"/> for stage 0
    /// and <see cref="GradientReduction.ReduceScatter"/> for ZeRO-1/2, over this optimizer's flat parameters. With
    /// ZeRO-2 attaching it turns on its <see cref="OverlappedGradients.ReleaseNonOwnedGradients"/>.
    /// </summary>
    public OverlappedGradients? Overlap
    {
        get => _reducer.Overlap;
        set => _reducer.Overlap = value;
    }

    /// <summary>This rank's slice of a state buffer, by its official name.</summary>
    public torch.Tensor StateBuffer(string name) => name switch
    {
        "exp_avg" => _expAvg,
        "exp_avg_sq" => _expAvgSq,
        "exp_avg_diff" => _expAvgDiff,
        "neg_pre_grad" => _negPreGrad,
        _ => throw new ArgumentException($"unknown Adan state buffer '{name}'; expected exp_avg, exp_avg_sq, exp_avg_diff or neg_pre_grad.", nameof(name)),
    };

    /// <summary>The official names of the four state buffers.</summary>
    public static IReadOnlyList<string> StateNames { get; } = ["exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"];

    /// <summary>Per parameter: has it had a gradient since the last restart (so neg_pre_grad is meaningful)?</summary>
    public IReadOnlyList<bool> HasPreviousGradient => _hasPreviousGradient;

    /// <summary>
    /// Applies one optimizer step to the gradients in <see cref="FlatParameters.Gradients"/>, which
    /// hold the sum of <paramref name="microBatches"/> backward passes of mean losses on this rank.
    /// Returns false when the step was skipped because the gradients were not finite.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public bool Step(int microBatches = 1)
    {
        if (microBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatches), microBatches, "micro-batches must be ≥ 1");
        }
        var gradients = Flat.Gradients;
        Flat.GatherGradients();
        var t0 = Stopwatch.GetTimestamp();
        Reduce(gradients, microBatches);
        var t1 = Stopwatch.GetTimestamp();
        var scale = 1.0 / ((double)_collective.WorldSize * microBatches);

        _stats[0] = ShardSumOfSquares();
        for (var i = 0; i < Flat.Parameters.Count; i++)
        {
            _stats[1 + i] = Flat.HasGradient[i] ? 1 : 0;
        }
        _collective.AllReduce(_stats, ReduceOp.Sum);
        var t2 = Stopwatch.GetTimestamp();
        if (Stage == ZeroStage.Gradients)
        {
            Flat.DecommitGradients(StateStart, StateLength);
        }

        var sumOfSquares = _stats[0] * scale * scale;
        if (!double.IsFinite(sumOfSquares))
        {
            SkippedSteps++;
            ConsecutiveSkips++;
            LastTimings = new StepTimings(Stopwatch.GetElapsedTime(t0, t1), Stopwatch.GetElapsedTime(t1, t2), TimeSpan.Zero, TimeSpan.Zero);
            if (ConsecutiveSkips >= MaxConsecutiveSkips)
            {
                throw new NonFiniteGradientException(ConsecutiveSkips, SkippedSteps);
            }
            return false;
        }
        ConsecutiveSkips = 0;
        LastGradNorm = Math.Sqrt(sumOfSquares);
        LastClipCoefficient = MaxGradNorm > 0 ? Math.Min(1.0, MaxGradNorm / (LastGradNorm + _groups[^1].Options.Eps)) : 1.0;
        for (var i = 0; i < _hadGradient.Length; i++)
        {
            _hadGradient[i] = _stats[1 + i] > 0;
        }

        Update(LastClipCoefficient * scale);
        var t3 = Stopwatch.GetTimestamp();
        if (Stage != ZeroStage.Replicated)
        {
            _collective.AllGather(_ownParameters, Flat.Values);
        }
        LastTimings = new StepTimings(Stopwatch.GetElapsedTime(t0, t1), Stopwatch.GetElapsedTime(t1, t2), Stopwatch.GetElapsedTime(t2, t3),
            Stopwatch.GetElapsedTime(t3));
        return true;
    }

    /// <summary>
    /// Restarts the moving averages as the official <c>restart_opt()</c>: every group's step goes
    /// back to 0 and exp_avg, exp_avg_sq and exp_avg_diff to zero; neg_pre_grad is kept.
    /// </summary>
    public void Restart()
    {
        foreach (var g in _groups)
        {
            g.Step = 0;
        }
        _expAvg.zero_();
        _expAvgSq.zero_();
        _expAvgDiff.zero_();
    }

    /// <summary>Restores the bookkeeping that goes with loaded state buffers (checkpoint resume).</summary>
    public void RestoreProgress(IReadOnlyList<long> groupSteps, IReadOnlyList<bool> hasPreviousGradient, long skippedSteps)
    {
        if (groupSteps.Count != _groups.Length || hasPreviousGradient.Count != _hasPreviousGradient.Length)
        {
            throw new ArgumentException(
                $"progress for {groupSteps.Count} groups / {hasPreviousGradient.Count} parameters does not match this optimizer's {_groups.Length} / {_hasPreviousGradient.Length}.");
        }
        for (var g = 0; g < _groups.Length; g++)
        {
            _groups[g].Step = groupSteps[g];
        }
        for (var i = 0; i < _hasPreviousGradient.Length; i++)
        {
            _hasPreviousGradient[i] = hasPreviousGradient[i];
        }
        SkippedSteps = skippedSteps;
        ConsecutiveSkips = 0;
    }

    /// <summary>Gathers the full flat buffer of one state (or "param") from every rank's slice.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public torch.Tensor GatherState(string name)
    {
        var local = StateBuffer(name);
        if (Stage == ZeroStage.Replicated)
        {
            return local.clone();
        }
        var full = torch.zeros(Flat.Layout.TotalNumel, dtype: torch.float32, device: local.device);
        _collective.AllGather(local, full);
        return full;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _reducer.Dispose();
        _tensorStep?.Dispose();
        _stateGradient.Dispose();
        _normGradient.Dispose();
        _ownParameters.Dispose();
        _expAvg.Dispose();
        _expAvgSq.Dispose();
        _expAvgDiff.Dispose();
        _negPreGrad.Dispose();
    }

    private void Reduce(torch.Tensor gradients, int microBatches)
    {
        // The reducer returns a view of what this rank's state covers; the step reads it through _stateGradient.
        var reduced = _reducer.Reduce(gradients, microBatches);
        if (!ReferenceEquals(reduced, gradients))
        {
            reduced.Dispose();
        }
    }

    /// <summary>Σ g² over this rank's shard of the reduced gradient, accumulated in double; on a GPU one reduction and one copy to the host.</summary>
    private double ShardSumOfSquares()
    {
        if (_normGradient.device_type == DeviceType.CPU)
        {
            return SumOfSquares.Of(TensorMemory.AsFloatMemory(_normGradient, "gradient shard"));
        }
        using var squares = _normGradient.square();
        using var sum = squares.sum(type: torch.ScalarType.Float64);
        return sum.item<double>();
    }

    private void Update(double gradientCoefficient)
    {
        var scalars = _scalars;
        for (var g = 0; g < _groups.Length; g++)
        {
            var group = _groups[g];
            group.Step++;
            var o = group.Options;
            scalars[g] = new AdanScalars(o.LearningRate, o.Beta1, o.Beta2, o.Beta3, o.Eps, o.WeightDecay, o.NoProx, group.Step, gradientCoefficient);
        }
        if (_tensorStep is not null)
        {
            for (var i = 0; i < _firstStep.Length; i++)
            {
                _firstStep[i] = _groupOfParameter[i] >= 0 && (_groups[_groupOfParameter[i]].Step == 1 || !_hasPreviousGradient[i]);
            }
            _tensorStep.Run(gradientCoefficient, scalars, _hadGradient, _firstStep);
            MarkGradients();
            return;
        }
        var grad = TensorMemory.AsFloatMemory(_stateGradient, "gradient shard");
        var param = TensorMemory.AsFloatMemory(_ownParameters, "parameter shard");
        var m = TensorMemory.AsFloatMemory(_expAvg, "exp_avg");
        var v = TensorMemory.AsFloatMemory(_expAvgSq, "exp_avg_sq");
        var d = TensorMemory.AsFloatMemory(_expAvgDiff, "exp_avg_diff");
        var n = TensorMemory.AsFloatMemory(_negPreGrad, "neg_pre_grad");
        foreach (var s in _segments)
        {
            if (!_hadGradient[s.Parameter])
            {
                continue;
            }
            var group = _groups[s.Group];
            var firstStep = group.Step == 1 || !_hasPreviousGradient[s.Parameter];
            var (start, length) = (s.LocalStart, s.Length);
            AdanKernel.FusedStep(param.Slice(start, length), grad.Slice(start, length), m.Slice(start, length), v.Slice(start, length),
                d.Slice(start, length), n.Slice(start, length), scalars[s.Group], firstStep, AdanKernel.Threads);
        }
        MarkGradients();
    }

    private void MarkGradients()
    {
        for (var i = 0; i < _hadGradient.Length; i++)
        {
            _hasPreviousGradient[i] |= _hadGradient[i];
        }
    }

    private static torch.Tensor NewBuffer(long length, torch.Device device) =>
        torch.zeros(length, dtype: torch.float32, device: device).DetachFromDisposeScope();
}
