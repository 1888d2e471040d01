using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// A pre-norm transformer block: <c>x + attention(LN(x))</c>, then <c>x + MLP(LN(x))</c> with a
/// GELU MLP four times as wide.
/// </summary>
internal sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm _attentionNorm;
    private readonly SelfAttention _attention;
    private readonly LayerNorm _mlpNorm;
    private readonly Linear _expand;
    private readonly Linear _contract;

    /// <summary>Creates the block.</summary>
    public TransformerBlock(int dimension, int heads, bool causal)
        : base(nameof(TransformerBlock))
    {
        _attentionNorm = nn.LayerNorm(dimension);
        _attention = new SelfAttention(dimension, heads, causal);
        _mlpNorm = nn.LayerNorm(dimension);
        _expand = nn.Linear(dimension, 4 * dimension);
        _contract = nn.Linear(4 * dimension, dimension);
        register_module("attention_norm", _attentionNorm);
        register_module("attention", _attention);
        register_module("mlp_norm", _mlpNorm);
        register_module("expand", _expand);
        register_module("contract", _contract);
    }

    /// <summary>Maps <c>[B, T, C]</c> to <c>[B, T, C]</c>.</summary>
    public override Tensor forward(Tensor input)
    {
        using var normed = _attentionNorm.call(input);
        using var attended = _attention.call(normed);
        using var x = input.add(attended);
        using var normed2 = _mlpNorm.call(x);
        using var expanded = _expand.call(normed2);
        using var activated = nn.functional.gelu(expanded);
        using var contracted = _contract.call(activated);
        return x.add(contracted);
    }
}
