using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// Multi-head self-attention with one fused query/key/value projection and an output projection;
/// causal (each position sees only earlier ones) for language models.
/// </summary>
internal sealed class SelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear _qkv;
    private readonly Linear _projection;
    private readonly int _heads;
    private readonly bool _causal;

    /// <summary>Creates the layer; <paramref name="dimension"/> must be divisible by <paramref name="heads"/>.</summary>
    public SelfAttention(int dimension, int heads, bool causal)
        : base(nameof(SelfAttention))
    {
        if (heads <= 0 || dimension % heads != 0)
        {
            throw new ArgumentException($"Embedding width {dimension} is not divisible by {heads} heads.", nameof(heads));
        }
        _heads = heads;
        _causal = causal;
        _qkv = nn.Linear(dimension, 3 * dimension);
        _projection = nn.Linear(dimension, dimension);
        register_module("qkv", _qkv);
        register_module("projection", _projection);
    }

    /// <summary>Maps <c>[B, T, C]</c> to <c>[B, T, C]</c>.</summary>
    public override Tensor forward(Tensor input)
    {
        var batch = input.shape[0];
        var tokens = input.shape[1];
        var channels = input.shape[2];
        using var qkv = _qkv.call(input);
        // [B, T, 3, H, D] -> [3, B, H, T, D]: one permute yields all three head-split tensors.
        using var split = qkv.view(batch, tokens, 3, _heads, channels / _heads).permute(2, 0, 3, 1, 4);
        using var query = split[0];
        using var key = split[1];
        using var value = split[2];
        using var attended = nn.functional.scaled_dot_product_attention(query, key, value, null, 0.0, _causal);
        using var merged = attended.transpose(1, 2).reshape(batch, tokens, channels);
        return _projection.call(merged);
    }
}
