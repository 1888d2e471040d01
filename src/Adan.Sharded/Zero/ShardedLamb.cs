using System.Diagnostics;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>
/// LAMB with its two state buffers sharded ZeRO-style over <see cref="FlatParameters"/>, in the
/// same data path as <see cref="ShardedAdan"/>: rank r owns [r·S, (r+1)·S) of the flat buffer
/// (parameters may straddle ranks) and keeps <c>exp_avg</c> and <c>exp_avg_sq</c> for that range
/// only. The result equals single-process <see cref="Lamb"/> on the averaged gradients.
/// </summary>
/// <remarks>
/// One <see cref="Step"/>: reduce-scatter (sum) of the flat gradients → one small all-reduce of
/// [Σ g² over the shard, which parameters had a gradient on any rank] → skip everywhere if the
/// gradients are not finite → phase (a) of <see cref="LambKernel"/> over the shard, with 1/(W·k)
/// and the clip divisor folded into one gradient coefficient, collecting each parameter's partial
/// Σp² and Σu² → one all-reduce of those 2 × #parameters doubles, so a parameter that straddles
/// ranks gets its whole norms → phase (b) → all-gather of the flat parameters. Stage 0 keeps full
/// state on every rank, all-reduces the gradients instead and needs no norm all-reduce.
/// The state lives on the flat buffers' device: CPU memory is updated by <see cref="LambKernel"/>, other memory (CUDA)
/// by <see cref="LambTensorStep"/>'s tensor operations, the same two phases around the same norm all-reduce.
/// </remarks>
public sealed class ShardedLamb : IDisposable
{
    private readonly ICollective _collective;
    private readonly GradientReducer _reducer;
    private readonly ShardedLambParamGroup[] _groups;
    private readonly ShardSegment[] _segments;
    private readonly bool[] _hadGradient;
    private readonly bool[] _hasHadGradient;
    private readonly double[] _stats;
    private readonly double[] _norms;
    private readonly LambScalars[] _scalars;
    private readonly torch.Tensor _expAvg;
    private readonly torch.Tensor _expAvgSq;
    private readonly torch.Tensor _update;
    private readonly torch.Tensor _ownParameters;
    private readonly int[] _groupOfParameter;
    private readonly torch.Tensor _normGradient;
    private readonly torch.Tensor _stateGradient;
    private readonly LambTensorStep? _tensorStep;
    private readonly double[] _trustRatios;

    /// <summary>Creates the optimizer with one group holding every parameter.</summary>
    public ShardedLamb(FlatParameters flat, ICollective collective, LambGroupOptions options, double? maxGradNorm = 1.0,
        ZeroStage stage = ZeroStage.OptimizerState, int maxConsecutiveSkips = 10, LambKernelKind kernel = LambKernelKind.Auto)
        : this(flat, collective, [(options, Enumerable.Range(0, flat.Parameters.Count).ToArray())], maxGradNorm, stage, maxConsecutiveSkips, kernel)
    {
    }

    /// <summary>Creates the optimizer with parameter groups given as (options, indices into the flat layout).</summary>
    /// <param name="flat">The flat parameters, laid out for the job's world size.</param>
    /// <param name="collective">The job's communicator.</param>
    /// <param name="groups">The groups: options and indices into the flat layout; each parameter in at most one.</param>
    /// <param name="maxGradNorm">Global gradient-norm clipping threshold; null or 0 disables clipping (timm's default 1.0).</param>
    /// <param name="stage">ZeRO stage 0, 1 or 2.</param>
    /// <param name="maxConsecutiveSkips">Consecutive non-finite steps tolerated before <see cref="NonFiniteGradientException"/>.</param>
    /// <param name="kernel">
    /// The update: <see cref="LambKernelKind.Fused"/> (the CPU kernel, CPU memory only), <see cref="LambKernelKind.Reference"/>
    /// (tensor operations on the flat shard, any device), or <see cref="LambKernelKind.Auto"/>: the CPU kernel on the
    /// CPU, tensor operations elsewhere.
    /// </param>
    public ShardedLamb(FlatParameters flat, ICollective collective, IEnumerable<(LambGroupOptions Options, int[] Parameters)> groups,
        double? maxGradNorm = 1.0, ZeroStage stage = ZeroStage.OptimizerState, int maxConsecutiveSkips = 10, LambKernelKind kernel = LambKernelKind.Auto)
    {
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(collective);
        ArgumentNullException.ThrowIfNull(groups);
        LambValidation.MaxGradNorm(maxGradNorm);
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

        var groupOfParameter = Enumerable.Repeat(-1, flat.Parameters.Count).ToArray();
        var groupList = new List<ShardedLambParamGroup>();
        foreach (var (options, indices) in groups)
        {
            options.Validate();
            foreach (var i in indices)
            {
                if (i < 0 || i >= flat.Parameters.Count)
                {
                    throw new ArgumentException($"parameter index {i} is out of range [0, {flat.Parameters.Count}).", nameof(groups));
                }
                if (groupOfParameter[i] >= 0)
                {
                    throw new ArgumentException($"parameter '{flat.Layout.Entries[i].Name}' appears in more than one group.", nameof(groups));
                }
                groupOfParameter[i] = groupList.Count;
            }
            groupList.Add(new ShardedLambParamGroup(options, indices));
        }
        if (groupList.Count == 0 || groupList.All(g => g.ParameterIndices.Count == 0))
        {
            throw new ArgumentException("optimizer got an empty parameter list; give it at least one parameter.", nameof(groups));
        }
        _groups = groupList.ToArray();
        _scalars = new LambScalars[_groups.Length];

        StateStart = stage == ZeroStage.Replicated ? 0 : flat.Layout.ShardStart(collective.Rank);
        StateLength = stage == ZeroStage.Replicated ? flat.Layout.TotalNumel : flat.Layout.ShardSize;
        _segments = ShardSegment.Of(flat.Layout, StateStart, StateLength, groupOfParameter);
        _hadGradient = new bool[flat.Parameters.Count];
        _hasHadGradient = new bool[flat.Parameters.Count];
        _stats = new double[1 + flat.Parameters.Count];
        _norms = new double[2 * flat.Parameters.Count];
        _trustRatios = new double[flat.Parameters.Count];
        _groupOfParameter = groupOfParameter;

        var device = flat.Values.device;
        var onCpu = device.type == DeviceType.CPU;
        if (kernel == LambKernelKind.Fused && !onCpu)
        {
            throw new ArgumentException($"the fused LAMB kernel works on CPU memory and the flat buffers are on {device}; use kernel Auto or Reference.", nameof(kernel));
        }
        Kernel = kernel == LambKernelKind.Auto ? (onCpu ? LambKernelKind.Fused : LambKernelKind.Reference) : kernel;
        _expAvg = NewBuffer(StateLength, device);
        _expAvgSq = NewBuffer(StateLength, device);
        _update = NewBuffer(StateLength, device);
        _ownParameters = flat.Values.narrow(0, StateStart, StateLength).DetachFromDisposeScope();
        _normGradient = flat.Gradients.narrow(0, flat.Layout.ShardStart(collective.Rank), flat.Layout.ShardSize).DetachFromDisposeScope();
        _stateGradient = flat.Gradients.narrow(0, StateStart, StateLength).DetachFromDisposeScope();
        if (Kernel == LambKernelKind.Reference)
        {
            _tensorStep = new LambTensorStep(_ownParameters, _stateGradient, _expAvg, _expAvgSq, _update, _segments, flat.Parameters.Count);
        }
        _reducer = new GradientReducer(flat, collective, stage, StateStart, StateLength);
    }

    /// <summary>The flat parameters this optimizer updates.</summary>
    public FlatParameters Flat { get; }

    /// <summary>The ZeRO stage.</summary>
    public ZeroStage Stage { get; }

    /// <summary>The update in use: <see cref="LambKernelKind.Fused"/> (CPU kernel) or <see cref="LambKernelKind.Reference"/> (tensor operations).</summary>
    public LambKernelKind Kernel { get; }

    /// <summary>Global-norm clipping threshold (null or 0 = off), taken over all groups as timm does.</summary>
    public double? MaxGradNorm { get; }

    /// <summary>Consecutive non-finite steps tolerated before <see cref="NonFiniteGradientException"/>.</summary>
    public int MaxConsecutiveSkips { get; }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ShardedLambParamGroup> Groups => _groups;

    /// <summary>First flat element whose state this rank keeps.</summary>
    public long StateStart { get; }

    /// <summary>Elements of state this rank keeps (S for ZeRO-1/2, the whole buffer for stage 0).</summary>
    public long StateLength { get; }

    /// <summary>
    /// Bytes of LAMB state on this rank: exactly 2 buffers × 4 bytes × <see cref="StateLength"/>.
    /// The update buffer u (another 4 bytes per element) is scratch and not counted.
    /// </summary>
    public long StateBytes => 8 * StateLength;

    /// <summary>Steps skipped because the gradients were not finite.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Current run of consecutive skipped steps.</summary>
    public int ConsecutiveSkips { get; private set; }

    /// <summary>The global gradient norm of the last applied step (after averaging, before clipping).</summary>
    public double LastGradNorm { get; private set; }

    /// <summary>The divisor the last applied step used on the gradients: max(1, ‖g‖/max_grad_norm), 1 when not clipping.</summary>
    public double LastClipDivisor { get; private set; } = 1.0;

    /// <summary>Where the last step's time went on this rank; <see cref="StepTimings.Update"/> excludes the trust-norm all-reduce.</summary>
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

    /// <summary>Time the last step spent in the all-reduce of the per-parameter norms.</summary>
    public TimeSpan LastTrustNormReduce { get; private set; }

    /// <summary>Per parameter: has it had a gradient on any rank in an applied step (so its state is meaningful)?</summary>
    public IReadOnlyList<bool> HasHadGradient => _hasHadGradient;

    /// <summary>The names of the two state buffers, as timm names them.</summary>
    public static IReadOnlyList<string> StateNames { get; } = ["exp_avg", "exp_avg_sq"];

    /// <summary>This rank's slice of a state buffer, by its timm name.</summary>
    public torch.Tensor StateBuffer(string name) => name switch
    {
        "exp_avg" => _expAvg,
        "exp_avg_sq" => _expAvgSq,
        _ => throw new ArgumentException($"unknown LAMB state buffer '{name}'; expected exp_avg or exp_avg_sq.", nameof(name)),
    };

    /// <summary>
    /// Applies one optimizer step to the gradients in <see cref="FlatParameters.Gradients"/>, which
    /// hold the sum of <paramref name="microBatches"/> backward passes of mean losses on this rank.
    /// Returns false when the step was skipped because the gradients were not finite.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    /// <exception cref="NonFiniteGradientException">Too many consecutive steps were skipped.</exception>
    public bool Step(int microBatches = 1)
    {
        if (microBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatches), microBatches, "micro-batches must be ≥ 1");
        }
        var gradients = Flat.Gradients;
        Flat.GatherGradients();
        var t0 = Stopwatch.GetTimestamp();
        var shardGradient = Reduce(gradients, microBatches);
        var t1 = Stopwatch.GetTimestamp();
        var scale = 1.0 / ((double)_collective.WorldSize * microBatches);

        var grad = _tensorStep is null ? TensorMemory.AsFloatMemory(shardGradient, "gradient shard") : default;
        var ownStart = Stage == ZeroStage.Replicated ? Flat.Layout.ShardStart(_collective.Rank) : 0;
        _stats[0] = _tensorStep is null ? SumOfSquares.Of(grad.Slice(ownStart, Flat.Layout.ShardSize)) : DeviceSumOfSquares();
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
            LastTrustNormReduce = TimeSpan.Zero;
            if (ConsecutiveSkips >= MaxConsecutiveSkips)
            {
                throw new NonFiniteGradientException(ConsecutiveSkips, SkippedSteps);
            }
            return false;
        }
        ConsecutiveSkips = 0;
        LastGradNorm = Math.Sqrt(sumOfSquares);
        LastClipDivisor = MaxGradNorm is > 0 ? Math.Max(1.0, LastGradNorm / MaxGradNorm.Value) : 1.0;
        for (var i = 0; i < _hadGradient.Length; i++)
        {
            _hadGradient[i] = _stats[1 + i] > 0;
        }

        var normReduce = _tensorStep is null ? Update(grad, scale / LastClipDivisor) : TensorUpdate(_tensorStep, scale / LastClipDivisor);
        var t3 = Stopwatch.GetTimestamp();
        if (Stage != ZeroStage.Replicated)
        {
            _collective.AllGather(_ownParameters, Flat.Values);
        }
        LastTrustNormReduce = normReduce;
        LastTimings = new StepTimings(Stopwatch.GetElapsedTime(t0, t1), Stopwatch.GetElapsedTime(t1, t2),
            Stopwatch.GetElapsedTime(t2, t3) - normReduce, Stopwatch.GetElapsedTime(t3));
        return true;
    }

    /// <summary>Gathers the full flat buffer of one state from every rank's slice.</summary>
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
        _normGradient.Dispose();
        _stateGradient.Dispose();
        _ownParameters.Dispose();
        _expAvg.Dispose();
        _expAvgSq.Dispose();
        _update.Dispose();
    }

    private torch.Tensor Reduce(torch.Tensor gradients, int microBatches) => _reducer.Reduce(gradients, microBatches);

    // Phases (a) and (b) over this rank's segments with the norm all-reduce between them; returns the time that all-reduce took.
    private TimeSpan Update(FloatMemory grad, double gradientCoefficient)
    {
        AdvanceGroups(gradientCoefficient);
        var param = TensorMemory.AsFloatMemory(_ownParameters, "parameter shard");
        var m = TensorMemory.AsFloatMemory(_expAvg, "exp_avg");
        var v = TensorMemory.AsFloatMemory(_expAvgSq, "exp_avg_sq");
        var u = TensorMemory.AsFloatMemory(_update, "update");
        Array.Clear(_norms);
        foreach (var s in _segments)
        {
            if (!_hadGradient[s.Parameter])
            {
                continue;
            }
            var (start, length) = (s.LocalStart, s.Length);
            var (paramSquares, updateSquares) = LambKernel.ComputeUpdate(param.Slice(start, length), grad.Slice(start, length),
                m.Slice(start, length), v.Slice(start, length), u.Slice(start, length), _scalars[s.Group]);
            _norms[2 * s.Parameter] += paramSquares;
            _norms[2 * s.Parameter + 1] += updateSquares;
        }

        var normReduce = ReduceNorms();

        foreach (var s in _segments)
        {
            if (!_hadGradient[s.Parameter])
            {
                continue;
            }
            var scalars = _scalars[s.Group];
            var ratio = LambKernel.TrustRatio(_norms[2 * s.Parameter], _norms[2 * s.Parameter + 1], scalars);
            var (start, length) = (s.LocalStart, s.Length);
            LambKernel.ApplyUpdate(param.Slice(start, length), u.Slice(start, length), ratio, scalars.LearningRate);
        }
        MarkGradients();
        return normReduce;
    }

    // The same two phases as tensor operations on the device, with the same norm all-reduce and trust ratios between them.
    private TimeSpan TensorUpdate(LambTensorStep step, double gradientCoefficient)
    {
        AdvanceGroups(gradientCoefficient);
        step.ComputeUpdates(gradientCoefficient, _scalars, _hadGradient, _norms);
        var normReduce = ReduceNorms();
        for (var i = 0; i < _trustRatios.Length; i++)
        {
            var group = _groupOfParameter[i];
            _trustRatios[i] = group >= 0 && _hadGradient[i] ? LambKernel.TrustRatio(_norms[2 * i], _norms[2 * i + 1], _scalars[group]) : 1.0;
        }
        step.ApplyUpdates(_scalars, _hadGradient, _trustRatios);
        MarkGradients();
        return normReduce;
    }

    private void AdvanceGroups(double gradientCoefficient)
    {
        for (var g = 0; g < _groups.Length; g++)
        {
            var group = _groups[g];
            group.Step++;
            var o = group.Options;
            _scalars[g] = new LambScalars(o.LearningRate, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.BiasCorrection, o.GradAveraging,
                o.TrustClip, o.AlwaysAdapt, group.Step, gradientCoefficient);
        }
    }

    // The all-reduce of the per-parameter partial norms; returns how long it took.
    private TimeSpan ReduceNorms()
    {
        var reduceStart = Stopwatch.GetTimestamp();
        // Stage 0 holds every segment of every parameter, so its sums are already whole.
        if (Stage != ZeroStage.Replicated)
        {
            _collective.AllReduce(_norms, ReduceOp.Sum);
        }
        return Stopwatch.GetElapsedTime(reduceStart);
    }

    private void MarkGradients()
    {
        for (var i = 0; i < _hadGradient.Length; i++)
        {
            _hasHadGradient[i] |= _hadGradient[i];
        }
    }

    /// <summary>Σ g² over this rank's shard of the reduced gradient: one float64 reduction on the device and one copy to the host.</summary>
    private double DeviceSumOfSquares()
    {
        using var squares = _normGradient.square();
        using var sum = squares.sum(type: torch.ScalarType.Float64);
        return sum.item<double>();
    }

    private static torch.Tensor NewBuffer(long length, torch.Device device) =>
        torch.zeros(length, dtype: torch.float32, device: device).DetachFromDisposeScope();
}
