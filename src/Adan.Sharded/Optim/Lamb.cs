using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Optim;

/// <summary>
/// The LAMB optimizer as most PyTorch users run it: timm's <c>Lamb</c>, the NVLAMB variant that
/// mirrors apex <c>FusedLAMB</c>, quirks included:
/// <list type="bullet">
/// <item>gradients are divided by max(1, ‖g‖/<see cref="MaxGradNorm"/>), ‖g‖ the global norm over
/// all groups (no ε), with <see cref="MaxGradNorm"/> from the constructor;</item>
/// <item>each group keeps one step counter, which counts every <see cref="step"/> even for
/// parameters without a gradient; parameters whose gradient is null are left untouched;</item>
/// <item>weight decay is added to the update before the trust ratio; the ratio applies only when
/// the group's weight decay is not 0 or <c>always_adapt</c> is set.</item>
/// </list>
/// Unlike timm, <see cref="step"/> does not scale the gradients in place. The update itself is
/// <see cref="LambKernel"/>; parameters and gradients must be contiguous fp32 CPU tensors.
/// </summary>
public sealed class Lamb : OptimizerHelper
{
    private readonly double? _maxGradNorm;

    // Scratch for the update u of one parameter, sized to the largest parameter, so a step allocates nothing. A tensor,
    // not a float[], because one parameter may hold more elements than a managed array.
    private Tensor _update = empty(0, dtype: ScalarType.Float32).DetachFromDisposeScope();

    /// <summary>Creates a LAMB optimizer over one group of parameters.</summary>
    /// <param name="parameters">The parameters to optimize (at least one).</param>
    /// <param name="lr">Learning rate, ≥ 0 (default 1e-3).</param>
    /// <param name="beta1">β1, decay of exp_avg, in [0, 1) (default 0.9).</param>
    /// <param name="beta2">β2, decay of exp_avg_sq, in [0, 1) (default 0.999).</param>
    /// <param name="eps">Added to the denominator after the square root, ≥ 0 (default 1e-6).</param>
    /// <param name="weightDecay">Weight decay added to the update, ≥ 0 (default 0.01).</param>
    /// <param name="biasCorrection">Divide the moments by 1 − β^step (default true).</param>
    /// <param name="gradAveraging">Weight the new gradient by 1 − β1 in exp_avg (default true; false: weight 1).</param>
    /// <param name="maxGradNorm">Global gradient-norm clipping threshold; null or 0 disables clipping (default 1.0).</param>
    /// <param name="trustClip">Cap the trust ratio at 1 (default false).</param>
    /// <param name="alwaysAdapt">Apply the trust ratio even without weight decay (default false).</param>
    public Lamb(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6,
        double weightDecay = 0.01, bool biasCorrection = true, bool gradAveraging = true, double? maxGradNorm = 1.0, bool trustClip = false,
        bool alwaysAdapt = false)
        : this([new ParamGroup(parameters ?? throw new ArgumentNullException(nameof(parameters)))], lr, beta1, beta2, eps, weightDecay,
            biasCorrection, gradAveraging, maxGradNorm, trustClip, alwaysAdapt)
    {
    }

    /// <summary>
    /// Creates a LAMB optimizer over parameter groups; options a group leaves unset take the
    /// values given here.
    /// </summary>
    /// <inheritdoc cref="Lamb(IEnumerable{Parameter}, double, double, double, double, double, bool, bool, double?, bool, bool)" path="/param"/>
    public Lamb(IEnumerable<ParamGroup> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6,
        double weightDecay = 0.01, bool biasCorrection = true, bool gradAveraging = true, double? maxGradNorm = 1.0, bool trustClip = false,
        bool alwaysAdapt = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        LambValidation.MaxGradNorm(maxGradNorm);
        var defaults = new Options
        {
            LearningRate = lr,
            InitialLearningRate = lr,
            Beta1 = beta1,
            Beta2 = beta2,
            Eps = eps,
            WeightDecay = weightDecay,
            BiasCorrection = biasCorrection,
            GradAveraging = gradAveraging,
            TrustClip = trustClip,
            AlwaysAdapt = alwaysAdapt,
        };
        Validate(defaults, string.Empty);
        _defaults = defaults;
        _maxGradNorm = maxGradNorm;
        _parameter_groups = [];
        foreach (var group in parameters)
        {
            add_param_group(group);
        }
        if (!_parameter_groups.Any(g => g.Parameters.Any()))
        {
            throw new ArgumentException(
                "Invalid parameters: the optimizer got an empty parameter list; pass at least one parameter.", nameof(parameters));
        }
    }

    /// <summary>The global gradient-norm clipping threshold (null or 0: no clipping), shared by all groups.</summary>
    public double? MaxGradNorm => _maxGradNorm;

    /// <summary>The divisor the last step applied to every gradient: max(1, ‖g‖/max_grad_norm), 1 without clipping.</summary>
    public double LastClipDivisor { get; private set; } = 1.0;

    /// <summary>The optimizer's parameter groups, with their options and step counters.</summary>
    public IEnumerable<ParamGroup> Groups => _parameter_groups.Cast<ParamGroup>();

    /// <summary>The state of a parameter of this optimizer.</summary>
    public State StateOf(Parameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        return _state.ContainsKey(parameter.Handle)
            ? (State)_state[parameter.Handle]
            : throw new ArgumentException("The parameter is not optimized by this optimizer.", nameof(parameter));
    }

    /// <summary>
    /// Performs one optimization step: clips the gradients by their global norm (unless
    /// <see cref="MaxGradNorm"/> is null or 0), advances every group's step counter and updates
    /// every parameter that has a gradient.
    /// </summary>
    /// <param name="closure">Re-evaluates the model and returns the loss; evaluated with gradients enabled before the update.</param>
    /// <returns>The closure's loss, or null.</returns>
    /// <exception cref="NotSupportedException">A gradient is sparse; nothing has been changed.</exception>
    /// <exception cref="ArgumentException">A parameter or gradient is not a contiguous fp32 CPU tensor; nothing has been changed.</exception>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using var enableGrad = enable_grad();
            loss = closure();
        }

        using (no_grad())
        {
            var grads = CollectGradients();
            LastClipDivisor = _maxGradNorm is > 0 ? ClipDivisor(grads, _maxGradNorm.Value) : 1.0;
            var index = 0;
            foreach (var group in Groups)
            {
                var o = group.Options;
                o.Step += 1;
                var scalars = new LambScalars(o.LearningRate!.Value, o.Beta1!.Value, o.Beta2!.Value, o.Eps!.Value, o.WeightDecay!.Value,
                    o.BiasCorrection!.Value, o.GradAveraging!.Value, o.TrustClip!.Value, o.AlwaysAdapt!.Value, o.Step, 1.0 / LastClipDivisor);
                foreach (var parameter in group.Parameters)
                {
                    var grad = grads[index++];
                    if (grad is null)
                    {
                        continue;
                    }
                    var state = (State)_state[parameter.Handle];
                    var param = TensorMemory.AsFloatMemory(parameter, "parameter");
                    var update = TensorMemory.AsFloatMemory(_update, "update").Slice(0, param.Length);
                    var (paramSquares, updateSquares) = LambKernel.ComputeUpdate(param, TensorMemory.AsFloatMemory(grad, "gradient"),
                        TensorMemory.AsFloatMemory(state.exp_avg, "exp_avg"), TensorMemory.AsFloatMemory(state.exp_avg_sq, "exp_avg_sq"),
                        update, scalars);
                    LambKernel.ApplyUpdate(param, update, LambKernel.TrustRatio(paramSquares, updateSquares, scalars), scalars.LearningRate);
                }
            }
        }
        return loss!;
    }

    /// <summary>Adds a parameter group; options it leaves unset take the constructor's values.</summary>
    /// <param name="param_group">A <see cref="ParamGroup"/> (or a base group with <see cref="Options"/> or no options).</param>
    public override void add_param_group(TorchSharp.Modules.ParamGroup param_group)
    {
        ArgumentNullException.ThrowIfNull(param_group);
        var defaults = (Options)_defaults;
        param_group.Options ??= new Options();
        if (param_group.Options is not Options options)
        {
            throw new ArgumentException(
                $"Invalid param_group: its options are {param_group.Options.GetType().Name}, expected {typeof(Options).FullName}.", nameof(param_group));
        }
        options.LearningRate ??= defaults.LearningRate;
        options.Beta1 ??= defaults.Beta1;
        options.Beta2 ??= defaults.Beta2;
        options.Eps ??= defaults.Eps;
        options.WeightDecay ??= defaults.WeightDecay;
        options.BiasCorrection ??= defaults.BiasCorrection;
        options.GradAveraging ??= defaults.GradAveraging;
        options.TrustClip ??= defaults.TrustClip;
        options.AlwaysAdapt ??= defaults.AlwaysAdapt;
        options.InitialLearningRate = options.LearningRate!.Value;
        Validate(options, $" of parameter group {_parameter_groups.Count}");

        var parameters = (param_group.Parameters ?? []).ToList();
        foreach (var parameter in parameters)
        {
            if (_state.ContainsKey(parameter.Handle))
            {
                throw new ArgumentException("Invalid param_group: some parameters appear in more than one parameter group.", nameof(param_group));
            }
            TensorMemory.RequireContiguousCpu(parameter, ScalarType.Float32, "parameter");
        }
        param_group.Parameters = parameters;
        _parameter_groups.Add(param_group);
        foreach (var parameter in parameters)
        {
            _state[parameter.Handle] = new State(parameter);
        }
        var largest = parameters.Count == 0 ? 0 : parameters.Max(p => p.numel());
        if (largest > _update.numel())
        {
            _update.Dispose();
            _update = empty(largest, dtype: ScalarType.Float32).DetachFromDisposeScope();
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            foreach (var (_, state) in _state)
            {
                ((State)state).Dispose();
            }
            _update.Dispose();
        }
    }

    // Every gradient is read (and checked) before anything changes, so a refused step leaves the optimizer as it was.
    private Tensor?[] CollectGradients()
    {
        var grads = new List<Tensor?>();
        foreach (var group in _parameter_groups)
        {
            foreach (var parameter in group.Parameters)
            {
                var grad = parameter.grad;
                if (grad is not null)
                {
                    if (grad.is_sparse)
                    {
                        throw new NotSupportedException(
                            "Lamb does not support sparse gradients; use a dense gradient (e.g. an embedding without sparse=true) or another optimizer.");
                    }
                    TensorMemory.RequireContiguousCpu(parameter, ScalarType.Float32, "parameter");
                    TensorMemory.RequireContiguousCpu(grad, ScalarType.Float32, "gradient");
                }
                grads.Add(grad);
            }
        }
        return [.. grads];
    }

    // timm's clip_global_grad_norm: the global norm over every group divided by max_grad_norm, never below 1, no ε.
    private static double ClipDivisor(Tensor?[] grads, double maxGradNorm)
    {
        var sumOfSquares = 0.0;
        foreach (var grad in grads)
        {
            if (grad is not null)
            {
                sumOfSquares += SumOfSquares.Of(TensorMemory.AsFloatMemory(grad, "gradient"));
            }
        }
        return Math.Max(1.0, Math.Sqrt(sumOfSquares) / maxGradNorm);
    }

    private static void Validate(Options options, string where) =>
        LambValidation.HyperParameters(options.LearningRate!.Value, options.Eps!.Value, options.WeightDecay!.Value,
            options.Beta1!.Value, options.Beta2!.Value, where);

    /// <summary>
    /// The hyper-parameters of one parameter group, and its step counter (timm's
    /// <c>param_groups[i]["step"]</c>). Unset options take the optimizer's defaults when the
    /// group is added.
    /// </summary>
    public sealed class Options : OptimizerOptions
    {
        /// <summary>β1, decay of exp_avg.</summary>
        public double? Beta1 { get; set; }

        /// <summary>β2, decay of exp_avg_sq.</summary>
        public double? Beta2 { get; set; }

        /// <summary>ε, added to the denominator after the square root.</summary>
        public double? Eps { get; set; }

        /// <summary>Weight decay, added to the update before the trust ratio.</summary>
        public double? WeightDecay { get; set; }

        /// <summary>Divide the moments by 1 − β^step.</summary>
        public bool? BiasCorrection { get; set; }

        /// <summary>Weight the new gradient by 1 − β1 in exp_avg (false: by 1).</summary>
        public bool? GradAveraging { get; set; }

        /// <summary>Cap the trust ratio at 1.</summary>
        public bool? TrustClip { get; set; }

        /// <summary>Apply the trust ratio even when the weight decay is 0.</summary>
        public bool? AlwaysAdapt { get; set; }

        /// <summary>The group's step counter: the number of steps since construction.</summary>
        public long Step { get; set; }

        /// <inheritdoc/>
        public override void LoadStateDict(OptimizerOptions source)
        {
            base.LoadStateDict(source);
            var options = (Options)source;
            Beta1 = options.Beta1;
            Beta2 = options.Beta2;
            Eps = options.Eps;
            WeightDecay = options.WeightDecay;
            BiasCorrection = options.BiasCorrection;
            GradAveraging = options.GradAveraging;
            TrustClip = options.TrustClip;
            AlwaysAdapt = options.AlwaysAdapt;
            Step = options.Step;
        }

        /// <inheritdoc/>
        public override void LoadStateDict(BinaryReader reader)
        {
            base.LoadStateDict(reader);
            Beta1 = reader.ReadDouble();
            Beta2 = reader.ReadDouble();
            Eps = reader.ReadDouble();
            WeightDecay = reader.ReadDouble();
            BiasCorrection = reader.ReadBoolean();
            GradAveraging = reader.ReadBoolean();
            TrustClip = reader.ReadBoolean();
            AlwaysAdapt = reader.ReadBoolean();
            Step = reader.ReadInt64();
        }

        /// <inheritdoc/>
        public override void SaveStateDict(BinaryWriter writer)
        {
            base.SaveStateDict(writer);
            writer.Write(Beta1!.Value);
            writer.Write(Beta2!.Value);
            writer.Write(Eps!.Value);
            writer.Write(WeightDecay!.Value);
            writer.Write(BiasCorrection!.Value);
            writer.Write(GradAveraging!.Value);
            writer.Write(TrustClip!.Value);
            writer.Write(AlwaysAdapt!.Value);
            writer.Write(Step);
        }
    }

    /// <summary>A parameter group of a <see cref="Lamb"/> optimizer.</summary>
    public sealed class ParamGroup : ParamGroup<Options>
    {
        /// <summary>An empty group, to be filled through its properties.</summary>
        public ParamGroup()
        {
        }

        /// <summary>A group with the given options.</summary>
        public ParamGroup(IEnumerable<Parameter> parameters, Options options)
            : base(parameters, options)
        {
        }

        /// <summary>A group; options left null take the optimizer's defaults.</summary>
        public ParamGroup(IEnumerable<Parameter> parameters, double? lr = null, double? beta1 = null, double? beta2 = null, double? eps = null,
            double? weightDecay = null, bool? biasCorrection = null, bool? gradAveraging = null, bool? trustClip = null, bool? alwaysAdapt = null)
            : base(parameters, new Options
            {
                LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = weightDecay, BiasCorrection = biasCorrection,
                GradAveraging = gradAveraging, TrustClip = trustClip, AlwaysAdapt = alwaysAdapt,
            })
        {
        }

        /// <summary>The group's step counter (see <see cref="Options.Step"/>).</summary>
        public long Step => Options.Step;
    }

    /// <summary>
    /// The per-parameter state, named as in timm so checkpoints map one-to-one. The buffers are
    /// allocated with the parameter and zero until its first gradient.
    /// </summary>
    public sealed class State : OptimizerState, IDisposable
    {
        internal State(Parameter parameter)
            : base(parameter)
        {
            exp_avg = zeros_like(parameter).DetachFromDisposeScope();
            exp_avg_sq = zeros_like(parameter).DetachFromDisposeScope();
        }

        /// <summary>m: the average of the gradients.</summary>
        public Tensor exp_avg { get; private set; }

        /// <summary>v: the average of the squared gradients.</summary>
        public Tensor exp_avg_sq { get; private set; }

        /// <inheritdoc/>
        public void Dispose()
        {
            exp_avg.Dispose();
            exp_avg_sq.Dispose();
        }

        /// <summary>Resets the state to that of a parameter that has had no gradient yet.</summary>
        public override void Initialize(OptimizerOptions options)
        {
            exp_avg.zero_();
            exp_avg_sq.zero_();
        }

        /// <summary>Moves the buffers to <paramref name="device"/>.</summary>
        public override void to(Device device)
        {
            exp_avg = Move(exp_avg, device);
            exp_avg_sq = Move(exp_avg_sq, device);
        }

        /// <inheritdoc/>
        public override void SaveStateDict(BinaryWriter writer)
        {
            exp_avg.Save(writer);
            exp_avg_sq.Save(writer);
        }

        /// <summary>Reads the state in place, so views onto the buffers stay valid.</summary>
        public override void LoadStateDict(BinaryReader reader)
        {
            exp_avg.Load(reader);
            exp_avg_sq.Load(reader);
        }

        /// <summary>Copies another state's values into this one's buffers (no aliasing).</summary>
        public override void LoadStateDict(OptimizerState source)
        {
            var state = (State)source;
            using var noGrad = no_grad();
            exp_avg.copy_(state.exp_avg);
            exp_avg_sq.copy_(state.exp_avg_sq);
        }

        /// <inheritdoc/>
        public override bool ApproximatelyEquals(OptimizerState other) =>
            other is State state && exp_avg.allclose(state.exp_avg) && exp_avg_sq.allclose(state.exp_avg_sq);

        private static Tensor Move(Tensor tensor, Device device)
        {
            var moved = tensor.to(device).DetachFromDisposeScope();
            if (!ReferenceEquals(moved, tensor))
            {
                tensor.Dispose();
            }
            return moved;
        }
    }
}
