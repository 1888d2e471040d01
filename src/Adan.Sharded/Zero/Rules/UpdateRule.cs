using TorchSharp;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// What every rule shares: the binding to one engine's shard, the options type, and the choice between the fused CPU
/// kernel and tensor operations at each step. A rule supplies its name, state names, per-step preparation and the two
/// updates; clipping defaults to <c>torch.nn.utils.clip_grad_norm_</c>'s.
/// </summary>
/// <typeparam name="TOptions">The options record every group holds.</typeparam>
public abstract class UpdateRule<TOptions> : IUpdateRule
    where TOptions : IGroupOptions
{
    private ShardState? _shard;

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public Type OptionsType => typeof(TOptions);

    /// <inheritdoc />
    public abstract IReadOnlyList<string> StateNames { get; }

    /// <inheritdoc />
    public virtual IReadOnlyCollection<string> KeptOnRestart => [];

    /// <inheritdoc />
    public virtual bool SupportsLowPrecisionState => false;

    /// <summary>The shard the engine bound this rule to.</summary>
    /// <exception cref="InvalidOperationException">No engine has bound it yet.</exception>
    protected ShardState Shard => _shard ?? throw new InvalidOperationException($"the {Name} rule is not bound to an engine.");

    /// <inheritdoc />
    public virtual double GradientCoefficient(double scale, double gradNorm, double maxGradNorm, IReadOnlyList<ShardedGroup> groups) =>
        scale * ClipGradNorm.Coefficient(gradNorm, maxGradNorm);

    /// <inheritdoc />
    public void Bind(ShardState shard)
    {
        ArgumentNullException.ThrowIfNull(shard);
        if (_shard is not null)
        {
            throw new InvalidOperationException($"the {Name} rule is bound to an engine already; make one rule per engine.");
        }
        _shard = shard;
        OnBind(shard);
    }

    /// <inheritdoc />
    public void Update(double gradientCoefficient)
    {
        var shard = Shard;
        Prepare(shard, gradientCoefficient);
        if (shard.Fused)
        {
            FusedUpdate(shard, gradientCoefficient);
        }
        else
        {
            TensorUpdate(shard, gradientCoefficient);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>The options of group <paramref name="group"/>.</summary>
    protected static TOptions Options(ShardState shard, int group) => shard.Groups[group].OptionsAs<TOptions>();

    /// <summary>
    /// Starts a tensor-operation update: enters no-grad mode (the returned scope) and scales the shard's gradient in place
    /// by <paramref name="gradientCoefficient"/>, so the rule's operations read the averaged, clipped gradient.
    /// </summary>
    protected static IDisposable BeginTensorUpdate(ShardState shard, double gradientCoefficient)
    {
        var noGrad = torch.no_grad();
        if (gradientCoefficient != 1.0)
        {
            shard.Gradient.mul_(gradientCoefficient);
        }
        return noGrad;
    }

    /// <summary>Allocates what the rule needs once (scratch, tensor views), after the state buffers exist.</summary>
    protected virtual void OnBind(ShardState shard)
    {
    }

    /// <summary>Computes the step's per-group scalars before either update runs.</summary>
    protected virtual void Prepare(ShardState shard, double gradientCoefficient)
    {
    }

    /// <summary>The update with the fused CPU kernel over each segment whose parameter had a gradient.</summary>
    protected abstract void FusedUpdate(ShardState shard, double gradientCoefficient);

    /// <summary>The update as in-place tensor operations on the shard (any device).</summary>
    protected abstract void TensorUpdate(ShardState shard, double gradientCoefficient);

    /// <summary>Releases what <see cref="OnBind"/> allocated.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
