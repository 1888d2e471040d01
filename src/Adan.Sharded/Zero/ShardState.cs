using System.Diagnostics;
using Adan.Sharded.Collectives;
using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>
/// A rank's shard as the engine hands it to its <see cref="IUpdateRule"/>: views of the parameters and gradients of the
/// state range, the state buffers by name, the parameters' segments in the range, per-parameter gradient flags, and the
/// one collective service a rule may need (per-parameter sums over the ranks).
/// </summary>
public sealed class ShardState
{
    private readonly ICollective _collective;
    private readonly IReadOnlyDictionary<string, torch.Tensor> _state;

    internal ShardState(ICollective collective, bool replicated, torch.Tensor parameters, torch.Tensor gradient,
        IReadOnlyDictionary<string, torch.Tensor> state, IReadOnlyList<ShardSegment> segments, IReadOnlyList<ShardedGroup> groups,
        int[] groupOfParameter, bool fused, bool[] hadGradient, bool[] hasHadGradient, long[] parameterSteps)
    {
        _collective = collective;
        Replicated = replicated;
        Parameters = parameters;
        Gradient = gradient;
        _state = state;
        Segments = segments;
        Groups = groups;
        GroupOfParameter = groupOfParameter;
        Fused = fused;
        HadGradient = hadGradient;
        HasHadGradient = hasHadGradient;
        ParameterSteps = parameterSteps;
    }

    /// <summary>The parameter elements of the state range (a view into the flat parameters).</summary>
    public torch.Tensor Parameters { get; }

    /// <summary>The gradient elements of the state range: the sum over ranks and micro-batches, unscaled; the rule may overwrite it.</summary>
    public torch.Tensor Gradient { get; }

    /// <summary>The parts of parameters inside the state range, in layout order; padding has none.</summary>
    public IReadOnlyList<ShardSegment> Segments { get; }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ShardedGroup> Groups { get; }

    /// <summary>Parameters in the layout.</summary>
    public int ParameterCount => GroupOfParameter.Count;

    /// <summary>Per parameter: the index of its group, −1 when it is in none.</summary>
    public IReadOnlyList<int> GroupOfParameter { get; }

    /// <summary>True: run the fused CPU kernel on the buffers' memory; false: tensor operations on their device.</summary>
    public bool Fused { get; }

    /// <summary>Stage 0: every rank holds the whole buffer, so per-parameter sums are already whole.</summary>
    public bool Replicated { get; }

    /// <summary>Per parameter: did any rank have a gradient for it in this step?</summary>
    public IReadOnlyList<bool> HadGradient { get; }

    /// <summary>Per parameter: had it a gradient in an applied step before this one (so its state is meaningful)?</summary>
    public IReadOnlyList<bool> HasHadGradient { get; }

    /// <summary>
    /// Per parameter: the applied steps in which it had a gradient, this step included (PyTorch's per-parameter
    /// <c>state['step']</c>, which AdamW's bias correction uses; a parameter's first step with a gradient sees 1).
    /// </summary>
    public IReadOnlyList<long> ParameterSteps { get; }

    /// <summary>How the state is stored; in a low-precision mode the rule reads <see cref="Stored"/>, not <see cref="State"/>.</summary>
    public OptimizerStateMode Mode { get; init; }

    /// <summary>The seed that keys stochastic rounding.</summary>
    public long Seed { get; init; }

    /// <summary>The global flat index of the state range's first element.</summary>
    public long Start { get; init; }

    /// <summary>The flat layout the state range lies in.</summary>
    public Flat.FlatLayout Layout { get; init; } = null!;

    /// <summary>The small parameters' index space (fp32 state in every mode).</summary>
    public SmallParameterIndex SmallParameters { get; init; } = null!;

    /// <summary>The stored state tensors by checkpoint name (<see cref="StoredStateTensor"/>).</summary>
    public IReadOnlyDictionary<string, torch.Tensor> Stored { get; init; } = new Dictionary<string, torch.Tensor>();

    /// <summary>Time the last step spent in <see cref="ReduceParameterSums"/>.</summary>
    public TimeSpan LastParameterSums { get; internal set; }

    /// <summary>A state buffer of the state range, by the name the rule declared.</summary>
    public torch.Tensor State(string name) =>
        _state.TryGetValue(name, out var buffer)
            ? buffer
            : throw new ArgumentException($"unknown state buffer '{name}'; the rule declared {string.Join(", ", _state.Keys)}.", nameof(name));

    /// <summary>
    /// Sums per-parameter partial sums over the ranks in place (one all-reduce; nothing with stage 0, whose sums are
    /// whole): what a rule needs when a quantity spans a parameter that straddles ranks, as LAMB's trust-ratio norms do.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void ReduceParameterSums(double[] sums)
    {
        var start = Stopwatch.GetTimestamp();
        if (!Replicated)
        {
            _collective.AllReduce(sums, ReduceOp.Sum);
        }
        LastParameterSums += Stopwatch.GetElapsedTime(start);
    }
}
