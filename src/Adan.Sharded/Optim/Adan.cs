using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Optim;

/// <summary>
/// The Adan optimizer (Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster
/// Optimizing Deep Models", https://arxiv.org/abs/2208.06677), with the semantics of the official
/// PyTorch implementation (sail-sg/Adan <c>adan.py</c>), quirks included:
/// <list type="bullet">
/// <item>gradients are clipped by their global norm over all groups, with <see cref="MaxGradNorm"/>
/// from the constructor and ε of the last group;</item>
/// <item>each group keeps one step counter, which counts every <see cref="step"/> even for
/// parameters without a gradient; parameters whose gradient is null are left untouched;</item>
/// <item>ε is added outside the square root; weight decay is proximal (divide after the update)
/// unless <c>no_prox</c> (multiply before it);</item>
/// <item><see cref="restart"/> zeroes the moments and the step but keeps <c>neg_pre_grad</c>.</item>
/// </list>
/// Betas follow the official convention (β1 = 0.98, β2 = 0.92, β3 = 0.99 by default, each the
/// weight of the old value). Unlike the official code, <see cref="step"/> does not scale the
/// gradients in place when clipping. The update itself is <see cref="AdanKernel"/>.
/// </summary>
public sealed class Adan : OptimizerHelper
{
    private readonly double _maxGradNorm;

    /// <summary>Creates an Adan optimizer over one group of parameters.</summary>
    /// <param name="parameters">The parameters to optimize (at least one).</param>
    /// <param name="lr">Learning rate, ≥ 0 (default 1e-3).</param>
    /// <param name="beta1">β1, decay of the gradient average, in [0, 1) (default 0.98).</param>
    /// <param name="beta2">β2, decay of the gradient-difference average, in [0, 1) (default 0.92).</param>
    /// <param name="beta3">β3, decay of the squared-term average, in [0, 1) (default 0.99).</param>
    /// <param name="eps">Added to the denominator outside the square root, ≥ 0 (default 1e-8).</param>
    /// <param name="weightDecay">Decoupled weight decay, ≥ 0 (default 0).</param>
    /// <param name="maxGradNorm">Global gradient-norm clipping threshold, ≥ 0; 0 disables clipping (default 0).</param>
    /// <param name="noProx">Multiply by 1 − lr·wd before the update instead of dividing by 1 + lr·wd after it (default false).</param>
    public Adan(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.98, double beta2 = 0.92, double beta3 = 0.99,
        double eps = 1e-8, double weightDecay = 0, double maxGradNorm = 0, bool noProx = false)
        : this([new ParamGroup(parameters ?? throw new ArgumentNullException(nameof(parameters)))], lr, beta1, beta2, beta3, eps, weightDecay, maxGradNorm, noProx)
    {
    }

    /// <summary>Creates an Adan optimizer over one group of named parameters (the names are not used).</summary>
    /// <inheritdoc cref="Adan(IEnumerable{Parameter}, double, double, double, double, double, double, double, bool)" path="/param"/>
    public Adan(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.98, double beta2 = 0.92, double beta3 = 0.99,
        double eps = 1e-8, double weightDecay = 0, double maxGradNorm = 0, bool noProx = false)
        : this((parameters ?? throw new ArgumentNullException(nameof(parameters))).Select(np => np.parameter), lr, beta1, beta2, beta3, eps, weightDecay, maxGradNorm, noProx)
    {
    }

    /// <summary>
    /// Creates an Adan optimizer over parameter groups; options a group leaves unset take the
    /// values given here.
    /// </summary>
    /// <inheritdoc cref="Adan(IEnumerable{Parameter}, double, double, double, double, double, double, double, bool)" path="/param"/>
    public Adan(IEnumerable<ParamGroup> parameters, double lr = 1e-3, double beta1 = 0.98, double beta2 = 0.92, double beta3 = 0.99,
        double eps = 1e-8, double weightDecay = 0, double maxGradNorm = 0, bool noProx = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        AdanValidation.MaxGradNorm(maxGradNorm);
        var defaults = new Options
        {
            LearningRate = lr,
            InitialLearningRate = lr,
            Beta1 = beta1,
            Beta2 = beta2,
            Beta3 = beta3,
            Eps = eps,
            WeightDecay = weightDecay,
            NoProx = noProx,
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

    /// <summary>The global gradient-norm clipping threshold (0: no clipping), shared by all groups.</summary>
    public double MaxGradNorm => _maxGradNorm;

    /// <summary>
    /// Which kernel applies the update (default <see cref="AdanKernelKind.Auto"/>: fused for
    /// contiguous fp32 CPU tensors, reference otherwise). The fused kernel uses
    /// <see cref="AdanKernel.Threads"/> threads.
    /// </summary>
    public AdanKernelKind Kernel { get; set; } = AdanKernelKind.Auto;

    /// <summary>The default (β1, β2, β3) of groups added later.</summary>
    public (double Beta1, double Beta2, double Beta3) Betas
    {
        get
        {
            var options = (Options)_defaults;
            return (options.Beta1!.Value, options.Beta2!.Value, options.Beta3!.Value);
        }
    }

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
    /// Performs one optimization step: clips the gradients by their global norm (when
    /// <see cref="MaxGradNorm"/> &gt; 0), advances every group's step counter and updates every
    /// parameter that has a gradient.
    /// </summary>
    /// <param name="closure">Re-evaluates the model and returns the loss; evaluated with gradients enabled before the update.</param>
    /// <returns>The closure's loss, or null.</returns>
    /// <exception cref="NotSupportedException">A gradient is sparse; nothing has been changed.</exception>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using var enableGrad = enable_grad();
            loss = closure();
        }

        using (no_grad())
        using (NewDisposeScope())
        {
            var grads = CollectGradients();
            var clipCoef = _maxGradNorm > 0 ? ClipCoefficient(grads) : 1.0;
            var index = 0;
            foreach (var group in Groups)
            {
                var options = group.Options;
                options.Step += 1;
                var scalars = new AdanScalars(options.LearningRate!.Value, options.Beta1!.Value, options.Beta2!.Value, options.Beta3!.Value,
                    options.Eps!.Value, options.WeightDecay!.Value, options.NoProx!.Value, options.Step, clipCoef);
                foreach (var parameter in group.Parameters)
                {
                    var grad = grads[index++];
                    if (grad is null)
                    {
                        continue;
                    }
                    var state = (State)_state[parameter.Handle];
                    var firstStep = !state.HasPreviousGradient || options.Step == 1;
                    AdanKernel.Step(parameter, grad, state.exp_avg, state.exp_avg_sq, state.exp_avg_diff, state.neg_pre_grad,
                        scalars, firstStep, Kernel);
                    state.HasPreviousGradient = true;
                }
            }
        }
        return loss!;
    }

    /// <summary>
    /// Restarts the optimizer as the official <c>restart_opt()</c> does: every group's step
    /// counter and the moments (<c>exp_avg</c>, <c>exp_avg_sq</c>, <c>exp_avg_diff</c>) of every
    /// parameter that requires a gradient go back to zero; <c>neg_pre_grad</c> is kept, so a
    /// parameter without a gradient on the next step resumes from its last gradient afterwards.
    /// </summary>
    public void restart()
    {
        using var noGrad = no_grad();
        foreach (var group in Groups)
        {
            group.Options.Step = 0;
            foreach (var parameter in group.Parameters)
            {
                if (parameter.requires_grad)
                {
                    ((State)_state[parameter.Handle]).ZeroMoments();
                }
            }
        }
    }

    /// <summary>Adds a parameter group; options it leaves unset take the constructor's values.</summary>
    /// <param name="param_group">An <see cref="ParamGroup"/> (or a base group with <see cref="Options"/> or no options).</param>
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
        options.Beta3 ??= defaults.Beta3;
        options.Eps ??= defaults.Eps;
        options.WeightDecay ??= defaults.WeightDecay;
        options.NoProx ??= defaults.NoProx;
        options.InitialLearningRate = options.LearningRate!.Value;
        Validate(options, $" of parameter group {_parameter_groups.Count}");

        var parameters = (param_group.Parameters ?? []).ToList();
        foreach (var parameter in parameters)
        {
            if (_state.ContainsKey(parameter.Handle))
            {
                throw new ArgumentException("Invalid param_group: some parameters appear in more than one parameter group.", nameof(param_group));
            }
        }
        param_group.Parameters = parameters;
        _parameter_groups.Add(param_group);
        foreach (var parameter in parameters)
        {
            _state[parameter.Handle] = new State(parameter);
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
                if (grad is not null && grad.is_sparse)
                {
                    throw new NotSupportedException(
                        "Adan does not support sparse gradients; use a dense gradient (e.g. an embedding without sparse=true) or another optimizer.");
                }
                grads.Add(grad);
            }
        }
        return [.. grads];
    }

    // The official computation, in float32 tensor operations: min(1, max_grad_norm / (‖g‖ + ε_last_group)).
    private double ClipCoefficient(Tensor?[] grads)
    {
        var device = _parameter_groups[0].Parameters.First().device;
        var sumOfSquares = zeros(1, ScalarType.Float32, device);
        foreach (var grad in grads)
        {
            if (grad is not null)
            {
                sumOfSquares.add_(grad.pow(2).sum());
            }
        }
        var eps = ((Options)_parameter_groups[^1].Options).Eps!.Value;
        var maxGradNorm = tensor(_maxGradNorm, ScalarType.Float32, device);
        return (maxGradNorm / (sumOfSquares.sqrt() + eps)).clamp(max: 1.0).item<float>();
    }

    private static void Validate(Options options, string where) =>
        AdanValidation.HyperParameters(options.LearningRate!.Value, options.Eps!.Value, options.WeightDecay!.Value,
            options.Beta1!.Value, options.Beta2!.Value, options.Beta3!.Value, where);

    /// <summary>
    /// The hyper-parameters of one parameter group, and its step counter (the official
    /// <c>param_groups[i]["step"]</c>). Unset options take the optimizer's defaults when the
    /// group is added.
    /// </summary>
    public sealed class Options : OptimizerOptions
    {
        /// <summary>β1, decay of the gradient average.</summary>
        public double? Beta1 { get; set; }

        /// <summary>β2, decay of the gradient-difference average.</summary>
        public double? Beta2 { get; set; }

        /// <summary>β3, decay of the squared-term average.</summary>
        public double? Beta3 { get; set; }

        /// <summary>ε, added to the denominator outside the square root.</summary>
        public double? Eps { get; set; }

        /// <summary>Decoupled weight decay.</summary>
        public double? WeightDecay { get; set; }

        /// <summary>Multiply by 1 − lr·wd before the update instead of dividing by 1 + lr·wd after it.</summary>
        public bool? NoProx { get; set; }

        /// <summary>The group's step counter: the number of steps since construction or the last restart.</summary>
        public long Step { get; set; }

        /// <inheritdoc/>
        public override void LoadStateDict(OptimizerOptions source)
        {
            base.LoadStateDict(source);
            var options = (Options)source;
            Beta1 = options.Beta1;
            Beta2 = options.Beta2;
            Beta3 = options.Beta3;
            Eps = options.Eps;
            WeightDecay = options.WeightDecay;
            NoProx = options.NoProx;
            Step = options.Step;
        }

        /// <inheritdoc/>
        public override void LoadStateDict(BinaryReader reader)
        {
            base.LoadStateDict(reader);
            Beta1 = reader.ReadDouble();
            Beta2 = reader.ReadDouble();
            Beta3 = reader.ReadDouble();
            Eps = reader.ReadDouble();
            WeightDecay = reader.ReadDouble();
            NoProx = reader.ReadBoolean();
            Step = reader.ReadInt64();
        }

        /// <inheritdoc/>
        public override void SaveStateDict(BinaryWriter writer)
        {
            base.SaveStateDict(writer);
            writer.Write(Beta1!.Value);
            writer.Write(Beta2!.Value);
            writer.Write(Beta3!.Value);
            writer.Write(Eps!.Value);
            writer.Write(WeightDecay!.Value);
            writer.Write(NoProx!.Value);
            writer.Write(Step);
        }
    }

    /// <summary>A parameter group of an <see cref="Adan"/> optimizer.</summary>
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
        public ParamGroup(IEnumerable<Parameter> parameters, double? lr = null, double? beta1 = null, double? beta2 = null, double? beta3 = null,
            double? eps = null, double? weightDecay = null, bool? noProx = null)
            : base(parameters, new Options { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Beta3 = beta3, Eps = eps, WeightDecay = weightDecay, NoProx = noProx })
        {
        }

        /// <summary>The group's step counter (see <see cref="Options.Step"/>).</summary>
        public long Step => Options.Step;
    }

    /// <summary>
    /// The per-parameter state, named as in the official implementation so checkpoints map
    /// one-to-one. The buffers are allocated with the parameter and zero until its first gradient.
    /// </summary>
    public sealed class State : OptimizerState, IDisposable
    {
        internal State(Parameter parameter)
            : base(parameter)
        {
            exp_avg = zeros_like(parameter).DetachFromDisposeScope();
            exp_avg_sq = zeros_like(parameter).DetachFromDisposeScope();
            exp_avg_diff = zeros_like(parameter).DetachFromDisposeScope();
            neg_pre_grad = zeros_like(parameter).DetachFromDisposeScope();
        }

        /// <summary>m: the average of the gradients.</summary>
        public Tensor exp_avg { get; private set; }

        /// <summary>n: the average of the squared Nesterov terms (g + β2·(g − g_prev))².</summary>
        public Tensor exp_avg_sq { get; private set; }

        /// <summary>v: the average of the gradient differences g − g_prev.</summary>
        public Tensor exp_avg_diff { get; private set; }

        /// <summary>The negated, clipped gradient last applied to the parameter.</summary>
        public Tensor neg_pre_grad { get; private set; }

        /// <summary>Whether <see cref="neg_pre_grad"/> holds a gradient (the parameter has had one since construction).</summary>
        public bool HasPreviousGradient { get; internal set; }

        /// <inheritdoc/>
        public void Dispose()
        {
            exp_avg.Dispose();
            exp_avg_sq.Dispose();
            exp_avg_diff.Dispose();
            neg_pre_grad.Dispose();
        }

        /// <summary>Resets the state to that of a parameter that has had no gradient yet.</summary>
        public override void Initialize(OptimizerOptions options)
        {
            HasPreviousGradient = false;
            ZeroMoments();
            neg_pre_grad.zero_();
        }

        /// <summary>Moves the buffers to <paramref name="device"/>.</summary>
        public override void to(Device device)
        {
            exp_avg = Move(exp_avg, device);
            exp_avg_sq = Move(exp_avg_sq, device);
            exp_avg_diff = Move(exp_avg_diff, device);
            neg_pre_grad = Move(neg_pre_grad, device);
        }

        /// <inheritdoc/>
        public override void SaveStateDict(BinaryWriter writer)
        {
            writer.Write(HasPreviousGradient);
            exp_avg.Save(writer);
            exp_avg_sq.Save(writer);
            exp_avg_diff.Save(writer);
            neg_pre_grad.Save(writer);
        }

        /// <summary>Reads the state in place, so views onto the buffers stay valid.</summary>
        public override void LoadStateDict(BinaryReader reader)
        {
            HasPreviousGradient = reader.ReadBoolean();
            exp_avg.Load(reader);
            exp_avg_sq.Load(reader);
            exp_avg_diff.Load(reader);
            neg_pre_grad.Load(reader);
        }

        /// <summary>Copies another state's values into this one's buffers (no aliasing).</summary>
        public override void LoadStateDict(OptimizerState source)
        {
            var state = (State)source;
            using var noGrad = no_grad();
            HasPreviousGradient = state.HasPreviousGradient;
            exp_avg.copy_(state.exp_avg);
            exp_avg_sq.copy_(state.exp_avg_sq);
            exp_avg_diff.copy_(state.exp_avg_diff);
            neg_pre_grad.copy_(state.neg_pre_grad);
        }

        /// <inheritdoc/>
        public override bool ApproximatelyEquals(OptimizerState other) =>
            other is State state && HasPreviousGradient == state.HasPreviousGradient
            && exp_avg.allclose(state.exp_avg) && exp_avg_sq.allclose(state.exp_avg_sq)
            && exp_avg_diff.allclose(state.exp_avg_diff) && neg_pre_grad.allclose(state.neg_pre_grad);

        internal void ZeroMoments()
        {
            exp_avg.zero_();
            exp_avg_sq.zero_();
            exp_avg_diff.zero_();
        }

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
