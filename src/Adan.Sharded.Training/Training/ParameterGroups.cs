using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;

namespace Adan.Sharded.Training;

/// <summary>
/// The optimizer's parameter groups for a config and a model's parameters, as the reference recipes build them: one
/// group with the optimizer's section; with <c>no_decay_bias_norm</c>, biases and normalisation weights apart in a
/// group without weight decay. Built from names and shapes only, so that the trainer's optimizer and the resume check
/// (from the checkpoint's layout) get the same groups.
/// </summary>
internal static class ParameterGroups
{
    /// <summary>
    /// The groups, each with a fresh options record and its parameters' indices in layout order: with
    /// <see cref="TrainConfig.NoDecayBiasNorm"/>, first the parameters timm's <c>param_groups_weight_decay</c> exempts
    /// (<c>p.ndim &lt;= 1 or name.endswith('.bias')</c>: biases and the weights of LayerNorm, BatchNorm and GroupNorm)
    /// with weight decay 0, then the rest; a group left empty is left out.
    /// </summary>
    /// <param name="config">The run's config: its optimizer's section and <c>no_decay_bias_norm</c>.</param>
    /// <param name="parameters">Every parameter's name and shape, in flat-layout order.</param>
    public static IReadOnlyList<(IGroupOptions Options, int[] Parameters)> Of(TrainConfig config, IEnumerable<(string Name, long[] Shape)> parameters)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(parameters);
        var all = parameters.ToArray();
        if (!config.NoDecayBiasNorm)
        {
            return [(config.OptimizerOptions(), [.. Enumerable.Range(0, all.Length)])];
        }
        var exempt = Enumerable.Range(0, all.Length).Where(i => IsBiasOrNorm(all[i].Name, all[i].Shape)).ToArray();
        var decayed = Enumerable.Range(0, all.Length).Except(exempt).ToArray();
        var groups = new List<(IGroupOptions, int[])>();
        if (exempt.Length > 0)
        {
            groups.Add((config.OptimizerOptions().WithoutWeightDecay(), exempt));
        }
        if (decayed.Length > 0)
        {
            groups.Add((config.OptimizerOptions(), decayed));
        }
        return groups;
    }

    /// <summary>
    /// Whether weight decay spares the parameter: every one with at most one dimension (biases, normalisation weights
    /// and biases, scalars), and any named <c>bias</c>.
    /// </summary>
    public static bool IsBiasOrNorm(string name, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        return shape.Length <= 1 || name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal);
    }
}
