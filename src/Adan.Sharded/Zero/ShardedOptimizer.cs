using System.Diagnostics;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>
/// The sharded-optimizer engine: any <see cref="IUpdateRule"/> (Adan, LAMB, AdamW, SGD) with its state sharded
/// ZeRO-style over <see cref="FlatParameters"/>. Rank r owns the contiguous range [r·S, (r+1)·S) of the flat buffer
/// (parameters may straddle ranks) and keeps the rule's state buffers for that range only. The result equals the
/// rule's single-process reference on the averaged gradients.
/// </summary>
/// <remarks>
/// One <see cref="Step"/>: reduce-scatter (sum) of the flat gradients by <see cref="GradientSync"/> (ZeRO-2 then returns
/// the gradient pages outside the block) → one small all-reduce of [Σ g² over the shard, which parameters had a
/// gradient on any rank, and with <see cref="MeasuresGradientNoise"/> Σ g² of each rank's own unreduced gradient] → skip everywhere if the gradients are not finite (and give up after
/// <see cref="MaxConsecutiveSkips"/>) → the rule's gradient coefficient (1/(W·k) with its clipping on the global norm,
/// never a per-shard one) → the rule's update of the shard → all-gather of the flat parameters. Stage 0 keeps full state on every rank and all-reduces instead (for comparison).
/// Build one with <see cref="ShardedOptimizers"/> or <see cref="OptimizerRegistry"/>.
/// </remarks>
public sealed class ShardedOptimizer : IDisposable
{
    private readonly ICollective _collective;
    private readonly GradientSync _sync;
    private readonly bool _ownsSync;
    private readonly ShardedGroup[] _groups;
    private readonly ShardSegment[] _segments;
    private readonly bool[] _hadGradient;
    private readonly bool[] _hasHadGradient;
    private readonly long[] _parameterSteps;
    private readonly double[] _stats;
    private readonly Dictionary<string, torch.Tensor> _state;
    private readonly torch.Tensor _ownParameters;
    private readonly torch.Tensor? _ownCompute;
    private readonly torch.Tensor _stateGradient;
    private readonly torch.Tensor _normGradient;
    private readonly ShardState _shard;
    private readonly StoredStateTensor[] _stored;
    private bool _measuresGradientNoise;
    private double _smallBatchSumOfSquares = double.NaN;

    /// <summary>Creates the engine over parameter groups given as (options, indices into the flat layout).</summary>
    /// <param name="flat">The flat parameters, laid out for the job's world size; the state lives on their device.</param>
    /// <param name="collective">The ranks' collective.</param>
    /// <param name="rule">The update rule; the engine owns it from now on.</param>
    /// <param name="groups">The groups: options of the rule's type and indices into the flat layout; each parameter in at most one.</param>
    /// <param name="maxGradNorm">Global-norm clipping threshold (0 = off); null takes the first group's <see cref="IGroupOptions.MaxGradNorm"/>.</param>
    /// <param name="stage">ZeRO stage 0, 1 or 2.</param>
    /// <param name="maxConsecutiveSkips">Consecutive non-finite steps tolerated before <see cref="NonFiniteGradientException"/>.</param>
    /// <param name="kernel">The fused CPU kernel, tensor operations, or <see cref="UpdateKernel.Auto"/> (fused on the CPU).</param>
    /// <param name="gradientSync">
    /// The gradient reduction over <paramref name="flat"/> (the caller keeps it and disposes it after the engine):
    /// <see cref="GradientReduction.AllReduce"/> for stage 0, <see cref="GradientReduction.ReduceScatter"/> for
    /// ZeRO-1/2, with the model when it overlaps backward. Null: the engine builds one that reduces in the step.
    /// </param>
    /// <param name="measureGradientNoise">Measure each step's <see cref="LastNoiseSample"/> (one more scalar in the step's all-reduce).</param>
    /// <param name="stateMode">
    /// How the state is stored (see <see cref="OptimizerStateMode"/>); a low-precision mode needs a rule that supports it
    /// (Adan) and a layout aligned to <see cref="OptimizerStateModes.Alignment"/>.
    /// </param>
    /// <param name="stateSeed">The run's seed, which keys the stochastic rounding of bf16 state (identical on every rank).</param>
    public ShardedOptimizer(FlatParameters flat, ICollective collective, IUpdateRule rule, IEnumerable<(IGroupOptions Options, int[] Parameters)> groups,
        double? maxGradNorm = null, ZeroStage stage = ZeroStage.OptimizerState, int maxConsecutiveSkips = 10, UpdateKernel kernel = UpdateKernel.Auto,
        GradientSync? gradientSync = null, bool measureGradientNoise = true, OptimizerStateMode stateMode = OptimizerStateMode.Fp32, long stateSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(collective);
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(groups);
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
        var reduction = stage == ZeroStage.Replicated ? GradientReduction.AllReduce : GradientReduction.ReduceScatter;
        if (gradientSync is not null)
        {
            if (!ReferenceEquals(gradientSync.Flat, flat))
            {
                throw new ArgumentException("the gradient sync is over other flat parameters than the optimizer's.", nameof(gradientSync));
            }
            if (gradientSync.Reduction != reduction)
            {
                throw new ArgumentException(
                    $"ZeRO stage {(int)stage} reduces gradients with {reduction}, but the gradient sync uses {gradientSync.Reduction}; build it with GradientReduction.{reduction}.",
                    nameof(gradientSync));
            }
        }
        if (stateMode != OptimizerStateMode.Fp32)
        {
            if (!rule.SupportsLowPrecisionState)
            {
                throw new ArgumentException(
                    $"optimizer_state={stateMode.Name()} is implemented for adan only; {rule.Name} keeps fp32 state: set optimizer_state=fp32.", nameof(stateMode));
            }
            if (flat.Layout.Alignment % stateMode.Alignment() != 0)
            {
                throw new ArgumentException(
                    $"optimizer_state={stateMode.Name()} needs the flat layout aligned to {stateMode.Alignment()} elements (its quantisation blocks), " +
                    $"but it is aligned to {flat.Layout.Alignment}; build FlatParameters with alignment OptimizerStateModes.Alignment(mode).", nameof(flat));
            }
        }
        Flat = flat;
        StateMode = stateMode;
        StateSeed = stateSeed;
        _collective = collective;
        Rule = rule;
        Stage = stage;
        MaxConsecutiveSkips = maxConsecutiveSkips;
        _groups = BuildGroups(flat, rule, groups, out var groupOfParameter);
        MaxGradNorm = maxGradNorm ?? _groups[0].Options.MaxGradNorm;
        if (!(MaxGradNorm >= 0 && double.IsFinite(MaxGradNorm)))
        {
            throw new ArgumentException(
                $"Invalid max_grad_norm: {MaxGradNorm.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}; it must be a finite value >= 0 (0 disables clipping).",
                nameof(maxGradNorm));
        }

        StateStart = stage == ZeroStage.Replicated ? 0 : flat.Layout.ShardStart(collective.Rank);
        StateLength = stage == ZeroStage.Replicated ? flat.Layout.TotalNumel : flat.Layout.ShardSize;
        _segments = ShardSegment.Of(flat.Layout, StateStart, StateLength, groupOfParameter);
        _hadGradient = new bool[flat.Parameters.Count];
        _hasHadGradient = new bool[flat.Parameters.Count];
        _parameterSteps = new long[flat.Parameters.Count];
        _stats = new double[2 + flat.Parameters.Count];

        var device = flat.Values.device;
        var onCpu = device.type == DeviceType.CPU;
        if (kernel == UpdateKernel.Fused && !onCpu)
        {
            throw new ArgumentException($"the fused {rule.Name} kernel works on CPU memory and the flat buffers are on {device}; use kernel Auto or Reference.", nameof(kernel));
        }
        Kernel = kernel == UpdateKernel.Auto ? (onCpu ? UpdateKernel.Fused : UpdateKernel.Reference) : kernel;
        SmallParameters = new SmallParameterIndex(flat.Layout);
        _state = stateMode == OptimizerStateMode.Fp32
            ? rule.StateNames.ToDictionary(n => n, _ => torch.zeros(StateLength, dtype: torch.float32, device: device).DetachFromDisposeScope())
            : [];
        _stored = stateMode == OptimizerStateMode.Fp32
            ? [.. rule.StateNames.Select(n => new StoredStateTensor(n, _state[n], StateExtent.Element))]
            : AllocateLowPrecisionState(rule, stateMode, device);
        _ownParameters = flat.Values.narrow(0, StateStart, StateLength).DetachFromDisposeScope();
        _ownCompute = flat.IsMixedPrecision ? flat.ComputeValues.narrow(0, StateStart, StateLength).DetachFromDisposeScope() : null;
        _stateGradient = flat.Gradients.narrow(0, StateStart, StateLength).DetachFromDisposeScope();
        _normGradient = flat.Gradients.narrow(0, flat.Layout.ShardStart(collective.Rank), flat.Layout.ShardSize).DetachFromDisposeScope();
        _shard = new ShardState(collective, stage == ZeroStage.Replicated, _ownParameters, _stateGradient, _state, _segments, _groups,
            groupOfParameter, Kernel == UpdateKernel.Fused, _hadGradient, _hasHadGradient, _parameterSteps)
        {
            Mode = stateMode,
            Seed = stateSeed,
            Start = StateStart,
            Layout = flat.Layout,
            SmallParameters = SmallParameters,
            Stored = _stored.ToDictionary(t => t.Name, t => t.Tensor),
        };
        rule.Bind(_shard);
        _ownsSync = gradientSync is null;
        _sync = gradientSync ?? new GradientSync(flat, collective, reduction);
        // ZeRO-2 keeps only its own block: the other pages go as soon as they are reduced.
        _sync.ReleaseNonOwnedGradients = stage == ZeroStage.Gradients;
        MeasuresGradientNoise = measureGradientNoise;
    }

    /// <summary>The flat parameters this optimizer updates.</summary>
    public FlatParameters Flat { get; }

    /// <summary>The update rule (its name is the optimizer's).</summary>
    public IUpdateRule Rule { get; }

    /// <summary>The optimizer's name (adan, lamb, adamw, sgd).</summary>
    public string Name => Rule.Name;

    /// <summary>The ZeRO stage.</summary>
    public ZeroStage Stage { get; }

    /// <summary>The update in use: <see cref="UpdateKernel.Fused"/> (CPU kernel) or <see cref="UpdateKernel.Reference"/> (tensor operations).</summary>
    public UpdateKernel Kernel { get; }

    /// <summary>Global-norm clipping threshold (0 = off), taken over all groups as every reference does.</summary>
    public double MaxGradNorm { get; }

    /// <summary>Consecutive non-finite steps tolerated before <see cref="NonFiniteGradientException"/>.</summary>
    public int MaxConsecutiveSkips { get; }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ShardedGroup> Groups => _groups;

    /// <summary>The names of the rule's state buffers.</summary>
    public IReadOnlyList<string> StateNames => Rule.StateNames;

    /// <summary>First flat element whose state this rank keeps.</summary>
    public long StateStart { get; }

    /// <summary>Elements of state this rank keeps (S for ZeRO-1/2, the whole buffer for stage 0).</summary>
    public long StateLength { get; }

    /// <summary>
    /// Bytes of optimizer state on this rank: the <see cref="StoredState"/> tensors' (fp32: exactly (state buffers) × 4
    /// bytes × <see cref="StateLength"/>); a rule's scratch is not state.
    /// </summary>
    public long StateBytes => _stored.Sum(t => t.Tensor.numel() * t.ElementSize);

    /// <summary>How the state is stored.</summary>
    public OptimizerStateMode StateMode { get; }

    /// <summary>The seed that keys the stochastic rounding of low-precision state.</summary>
    public long StateSeed { get; }

    /// <summary>The tensors the state is kept in, in checkpoint order (fp32: the rule's buffers, by their names).</summary>
    public IReadOnlyList<StoredStateTensor> StoredState => _stored;

    /// <summary>The small parameters' index space (their state stays fp32 in every mode).</summary>
    public SmallParameterIndex SmallParameters { get; }

    /// <summary>
    /// Where rank <paramref name="rank"/>'s shard [r·S, (r+1)·S) lies in a stored tensor kept over this rank's state
    /// range (for stage 0, the whole buffer): its first entry and its number of entries.
    /// </summary>
    public (long Offset, long Count) ShardSlice(StoredStateTensor tensor, int rank)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var start = Flat.Layout.ShardStart(rank);
        return (tensor.Offset(SmallParameters, StateStart, start), tensor.Count(SmallParameters, start, Flat.Layout.ShardSize));
    }

    /// <summary>Padding elements inside this rank's state range (state kept for them but never used).</summary>
    public long PaddingInState => StateLength - _segments.Sum(s => s.Length);

    /// <summary>Bytes of the buffer the all-gather after each step fills: the layout in the compute dtype; 0 at stage 0.</summary>
    public long GatheredBytes => Stage == ZeroStage.Replicated ? 0 : Flat.Layout.TotalNumel * (Flat.IsMixedPrecision ? 2 : sizeof(float));

    /// <summary>Steps skipped because the gradients were not finite.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Current run of consecutive skipped steps.</summary>
    public int ConsecutiveSkips { get; private set; }

    /// <summary>The global gradient norm of the last applied step (after averaging, before clipping).</summary>
    public double LastGradNorm { get; private set; }

    /// <summary>
    /// Whether steps measure <see cref="LastNoiseSample"/>; may be switched between steps (every rank alike: with W ≥ 2
    /// it decides whether the gradient sync takes each rank's local Σ g²).
    /// </summary>
    public bool MeasuresGradientNoise
    {
        get => _measuresGradientNoise;
        set
        {
            _measuresGradientNoise = value;
            _sync.MeasureLocalNorm = value && _collective.WorldSize > 1;
        }
    }

    /// <summary>
    /// The last applied step's small- and big-batch squared gradient norms, the inputs of
    /// <see cref="Statistics.GradientNoiseScale"/>; null when not measured (off, a skipped step, or one rank without
    /// <see cref="RecordSmallBatchGradient"/> in the step). Identical on every rank.
    /// </summary>
    public NoiseSample? LastNoiseSample { get; private set; }

    /// <summary>The factor the last applied step's clipping put on the averaged gradients (1 when not clipping).</summary>
    public double LastClipCoefficient { get; private set; } = 1.0;

    /// <summary>Where the last step's time went on this rank.</summary>
    public StepTimings LastTimings { get; private set; }

    /// <summary>
    /// How long the last step's gradient reduction had collectives in flight: for a pass armed on
    /// <see cref="GradientSync"/> mostly while backward ran, so more than <see cref="StepTimings.Reduce"/>, the part the
    /// step waited for.
    /// </summary>
    public TimeSpan LastReduceBusy => _sync.LastBusy;

    /// <summary>
    /// The gradient reduction <see cref="Step"/> starts with: it finishes the pass armed for the step's last backward, or
    /// reduces then. Given to the constructor or built by it; with ZeRO-2 its
    /// <see cref="DataParallel.GradientSync.ReleaseNonOwnedGradients"/> is on.
    /// </summary>
    public GradientSync GradientSync => _sync;

    /// <summary>Per parameter: has it had a gradient on any rank in an applied step since it was created (so its state is meaningful)?</summary>
    public IReadOnlyList<bool> HasHadGradient => _hasHadGradient;

    /// <summary>Per parameter: the applied steps in which it had a gradient on any rank (PyTorch's per-parameter <c>state['step']</c>).</summary>
    public IReadOnlyList<long> ParameterSteps => _parameterSteps;

    /// <summary>This rank's slice of an fp32 state buffer, by the rule's name for it.</summary>
    /// <exception cref="InvalidOperationException">The state is stored in low precision: see <see cref="DequantisedState"/>.</exception>
    public torch.Tensor StateBuffer(string name)
    {
        if (StateMode != OptimizerStateMode.Fp32)
        {
            throw new InvalidOperationException(
                $"the {Name} state is stored as {StateMode.Name()}; read it with DequantisedState(\"{name}\") or StoredState.");
        }
        return _state.TryGetValue(name, out var buffer)
            ? buffer
            : throw new ArgumentException($"unknown {Name} state buffer '{name}'; expected {string.Join(", ", StateNames)}.", nameof(name));
    }

    /// <summary>
    /// A new fp32 tensor of this rank's state buffer <paramref name="name"/> over the state range, decoded from its stored
    /// form (a copy of the buffer in fp32 mode); padding reads as zero.
    /// </summary>
    public torch.Tensor DequantisedState(string name)
    {
        if (StateMode == OptimizerStateMode.Fp32)
        {
            return StateBuffer(name).clone();
        }
        if (!StateNames.Contains(name))
        {
            throw new ArgumentException($"unknown {Name} state buffer '{name}'; expected {string.Join(", ", StateNames)}.", nameof(name));
        }
        return LowPrecisionState.Decode(_shard, name, _segments);
    }

    /// <summary>
    /// With one rank and gradient accumulation: records Σ g² of the flat gradients after the step's first micro-batch's
    /// backward, the small batch of that step's <see cref="LastNoiseSample"/> (b = one micro-batch, B = the step's k
    /// micro-batches). Call it right after the first backward of a step of k ≥ 2 micro-batches, before the second
    /// forward; with two or more ranks it is not needed (each rank's gradient is the small batch) and does nothing.
    /// </summary>
    /// <remarks>On this rank only; one extra pass over the gradients.</remarks>
    public void RecordSmallBatchGradient()
    {
        if (!MeasuresGradientNoise || _collective.WorldSize > 1)
        {
            return;
        }
        Flat.GatherGradients();
        _smallBatchSumOfSquares = SumOfSquares.OfStatistic(Flat.Gradients, "gradients");
    }

    /// <summary>
    /// Applies one optimizer step to the gradients in <see cref="FlatParameters.Gradients"/>, which hold the sum of
    /// <paramref name="microBatches"/> backward passes of mean losses on this rank. Returns false when the step was
    /// skipped because the gradients were not finite.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    /// <exception cref="NonFiniteGradientException">Too many consecutive steps were skipped.</exception>
    public bool Step(int microBatches = 1)
    {
        if (microBatches < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatches), microBatches, "micro-batches must be ≥ 1");
        }
        Flat.GatherGradients();
        var t0 = Stopwatch.GetTimestamp();
        var scale = _sync.Synchronize(microBatches);
        var t1 = Stopwatch.GetTimestamp();

        _stats[0] = ShardSumOfSquares();
        _stats[1] = _sync.LastLocalSumOfSquares;
        for (var i = 0; i < Flat.Parameters.Count; i++)
        {
            _stats[2 + i] = Flat.HasGradient[i] ? 1 : 0;
        }
        _collective.AllReduce(_stats, ReduceOp.Sum);
        var t2 = Stopwatch.GetTimestamp();

        var sumOfSquares = _stats[0] * scale * scale;
        LastNoiseSample = NoiseSampleOf(sumOfSquares, microBatches);
        _smallBatchSumOfSquares = double.NaN;
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
        var coefficient = Rule.GradientCoefficient(scale, LastGradNorm, MaxGradNorm, _groups);
        LastClipCoefficient = coefficient / scale;
        for (var i = 0; i < _hadGradient.Length; i++)
        {
            _hadGradient[i] = _stats[2 + i] > 0;
            if (_hadGradient[i])
            {
                _parameterSteps[i]++;
            }
        }
        foreach (var group in _groups)
        {
            group.Step++;
        }

        _shard.LastParameterSums = TimeSpan.Zero;
        Rule.Update(coefficient);
        for (var i = 0; i < _hadGradient.Length; i++)
        {
            _hasHadGradient[i] |= _hadGradient[i];
        }
        var t3 = Stopwatch.GetTimestamp();
        GatherParameters();
        var parameterSums = _shard.LastParameterSums;
        LastTimings = new StepTimings(Stopwatch.GetElapsedTime(t0, t1), Stopwatch.GetElapsedTime(t1, t2),
            Stopwatch.GetElapsedTime(t2, t3) - parameterSums, Stopwatch.GetElapsedTime(t3), parameterSums);
        return true;
    }

    /// <summary>
    /// Restarts the moving averages: every group's step goes back to 0 and every state buffer but the rule's
    /// <see cref="IUpdateRule.KeptOnRestart"/> to zero (Adan as the official <c>restart_opt()</c>: neg_pre_grad is kept),
    /// and the per-parameter step counts to 0.
    /// </summary>
    public void Restart()
    {
        foreach (var g in _groups)
        {
            g.Step = 0;
        }
        // Per-parameter counts start again too (AdamW's bias correction, SGD's first momentum step); whether a
        // parameter ever had a gradient (Adan's neg_pre_grad) is kept.
        Array.Clear(_parameterSteps);
        foreach (var stored in _stored.Where(t => !Rule.KeptOnRestart.Contains(LowPrecisionState.BufferOf(t.Name))))
        {
            stored.Tensor.zero_();
        }
    }

    /// <summary>Restores the bookkeeping that goes with loaded state buffers (checkpoint resume).</summary>
    /// <param name="groupSteps">Each group's step counter.</param>
    /// <param name="parameterSteps">Per parameter, the applied steps in which it had a gradient (0: never, so its state is empty).</param>
    /// <param name="skippedSteps">Steps skipped so far.</param>
    public void RestoreProgress(IReadOnlyList<long> groupSteps, IReadOnlyList<long> parameterSteps, long skippedSteps)
    {
        if (groupSteps.Count != _groups.Length || parameterSteps.Count != _parameterSteps.Length)
        {
            throw new ArgumentException(
                $"progress for {groupSteps.Count} groups / {parameterSteps.Count} parameters does not match this optimizer's {_groups.Length} / {_parameterSteps.Length}.");
        }
        for (var g = 0; g < _groups.Length; g++)
        {
            _groups[g].Step = groupSteps[g];
        }
        for (var i = 0; i < _parameterSteps.Length; i++)
        {
            _parameterSteps[i] = parameterSteps[i];
            _hasHadGradient[i] = parameterSteps[i] > 0;
        }
        SkippedSteps = skippedSteps;
        ConsecutiveSkips = 0;
    }

    /// <summary>Gathers the full flat buffer of one state from every rank's slice.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public torch.Tensor GatherState(string name)
    {
        using var local = DequantisedState(name);
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
        if (_ownsSync)
        {
            _sync.Dispose();
        }
        Rule.Dispose();
        _stateGradient.Dispose();
        _normGradient.Dispose();
        _ownParameters.Dispose();
        _ownCompute?.Dispose();
        foreach (var stored in _stored)
        {
            stored.Tensor.Dispose();
        }
    }

    private StoredStateTensor[] AllocateLowPrecisionState(IUpdateRule rule, OptimizerStateMode mode, torch.Device device)
    {
        var smallCount = SmallParameters.Before(StateStart + StateLength) - SmallParameters.Before(StateStart);
        var stored = new List<StoredStateTensor>();
        foreach (var name in rule.StateNames)
        {
            var codes = mode == OptimizerStateMode.EightBit && LowPrecisionState.IsMoment(name);
            var dtype = codes ? torch.ScalarType.Byte : torch.ScalarType.BFloat16;
            stored.Add(new StoredStateTensor(name, torch.zeros(StateLength, dtype: dtype, device: device).DetachFromDisposeScope(), StateExtent.Element));
            if (codes)
            {
                stored.Add(new StoredStateTensor(name + LowPrecisionState.ScaleSuffix,
                    torch.zeros(StateLength / Optim.StateCodes.BlockSize, dtype: torch.float32, device: device).DetachFromDisposeScope(), StateExtent.Block));
            }
            stored.Add(new StoredStateTensor(name + LowPrecisionState.SmallSuffix,
                torch.zeros(smallCount, dtype: torch.float32, device: device).DetachFromDisposeScope(), StateExtent.Small));
        }
        return [.. stored];
    }

    private static ShardedGroup[] BuildGroups(FlatParameters flat, IUpdateRule rule, IEnumerable<(IGroupOptions Options, int[] Parameters)> groups,
        out int[] groupOfParameter)
    {
        groupOfParameter = Enumerable.Repeat(-1, flat.Parameters.Count).ToArray();
        var list = new List<ShardedGroup>();
        foreach (var (options, indices) in groups)
        {
            ArgumentNullException.ThrowIfNull(options);
            if (!rule.OptionsType.IsInstanceOfType(options))
            {
                throw new ArgumentException($"{rule.Name} takes {rule.OptionsType.Name} for its groups, not {options.GetType().Name}.", nameof(groups));
            }
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
                groupOfParameter[i] = list.Count;
            }
            list.Add(new ShardedGroup(options, indices));
        }
        if (list.Count == 0 || list.All(g => g.ParameterIndices.Count == 0))
        {
            throw new ArgumentException("optimizer got an empty parameter list; give it at least one parameter.", nameof(groups));
        }
        return [.. list];
    }

    /// <summary>Σ g² over this rank's shard of the reduced gradient, accumulated in double; on a GPU one reduction and one copy to the host.</summary>
    /// <summary>
    /// ℓ and γ of the step from the all-reduced scalars. The flat buffers hold the sum of k backward passes of mean
    /// losses, so a rank's gradient is its sum/k; ZeRO-1/2 ranks each add their own block's Σ g², whose sum over the
    /// ranks has the expectation of one whole local Σ g², while stage 0 ranks add whole ones, averaged over W.
    /// </summary>
    private NoiseSample? NoiseSampleOf(double bigSquaredNorm, int microBatches)
    {
        if (!MeasuresGradientNoise || !double.IsFinite(bigSquaredNorm))
        {
            return null;
        }
        var world = _collective.WorldSize;
        if (world > 1)
        {
            var local = _stats[1] / ((double)microBatches * microBatches);
            var small = Stage == ZeroStage.Replicated ? local / world : local;
            return double.IsFinite(small) ? new NoiseSample(small, bigSquaredNorm, microBatches, world * microBatches) : null;
        }
        return microBatches >= 2 && double.IsFinite(_smallBatchSumOfSquares)
            ? new NoiseSample(_smallBatchSumOfSquares, bigSquaredNorm, 1, microBatches)
            : null;
    }

    /// <summary>
    /// After the update: every rank's model takes the updated shards. Under fp32 the all-gather moves the fp32 master;
    /// under mixed precision each rank rounds its shard into the compute copy and the all-gather moves that (half the
    /// bytes under bf16), the master outside the shard left as it was (the note on the compute copy in
    /// <see cref="FlatParameters"/>). Stage 0 has every value already and only refreshes the compute copy.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    private void GatherParameters()
    {
        if (Stage == ZeroStage.Replicated)
        {
            Flat.RefreshCompute();
        }
        else if (_ownCompute is null)
        {
            _collective.AllGather(_ownParameters, Flat.Values);
        }
        else
        {
            using (torch.no_grad())
            {
                _ownCompute.copy_(_ownParameters);
            }
            _collective.AllGather(_ownCompute, Flat.ComputeValues);
            Flat.RefreshFp32Parameters();
        }
    }

    private double ShardSumOfSquares() => SumOfSquares.Of(_normGradient, "gradient shard");
}
