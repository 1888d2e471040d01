using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// A small ViT for square single-channel images: non-overlapping patches embedded by a strided
/// conv, learned position embeddings, pre-norm transformer blocks, a final LayerNorm, mean pooling
/// over patches (no class token) and a linear classifier.
/// </summary>
internal sealed class VisionTransformer : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _patchEmbedding;
    private readonly ModuleList<TransformerBlock> _blocks;
    private readonly LayerNorm _norm;
    private readonly Linear _head;

    /// <summary>
    /// The learned position embedding is read by its registered name at each forward, never held in a field:
    /// <c>Module.to(device or dtype)</c> replaces a parameter and rebinds only a field named as it is registered, so a
    /// field would keep the replaced tensor (on the old device, or disposed) after <c>model.to(cuda)</c>.
    /// </summary>
    private const string PositionEmbeddingName = "position_embedding";

    /// <summary>Creates the network; <paramref name="imageSize"/> must be divisible by <paramref name="patchSize"/>.</summary>
    public VisionTransformer(int imageSize = 28, int patchSize = 7, int dimension = 64, int layers = 2, int heads = 4, int classes = 10)
        : base(nameof(VisionTransformer))
    {
        if (patchSize <= 0 || imageSize % patchSize != 0)
        {
            throw new ArgumentException($"Image size {imageSize} is not divisible by patch size {patchSize}.", nameof(patchSize));
        }
        var patches = (imageSize / patchSize) * (imageSize / patchSize);
        _patchEmbedding = nn.Conv2d(1, dimension, patchSize, stride: patchSize);
        var positionEmbedding = nn.Parameter(torch.randn(1, patches, dimension).mul_(0.02));
        _blocks = nn.ModuleList(Enumerable.Range(0, layers).Select(_ => new TransformerBlock(dimension, heads, causal: false)).ToArray());
        _norm = nn.LayerNorm(dimension);
        _head = nn.Linear(dimension, classes);
        register_module("patch_embedding", _patchEmbedding);
        register_parameter(PositionEmbeddingName, positionEmbedding);
        register_module("blocks", _blocks);
        register_module("norm", _norm);
        register_module("head", _head);
    }

    private Parameter PositionEmbedding => get_parameter(PositionEmbeddingName)
        ?? throw new InvalidOperationException($"the {PositionEmbeddingName} parameter is not registered.");

    /// <summary>Maps <c>[B, 1, H, W]</c> images to <c>[B, classes]</c> logits.</summary>
    public override Tensor forward(Tensor input)
    {
        using var patches = _patchEmbedding.call(input);
        using var tokens = patches.flatten(2).transpose(1, 2);
        var x = tokens.add(PositionEmbedding);
        foreach (var block in _blocks)
        {
            var next = block.call(x);
            x.Dispose();
            x = next;
        }
        using var normed = _norm.call(x);
        x.Dispose();
        using var pooled = normed.mean([1L]);
        return _head.call(pooled);
    }
}
