using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// A small ResNet for 28x28x1 images: a 3x3 stem conv with BN and ReLU, stages of
/// <see cref="ResidualBlock"/>s whose width doubles and size halves from the second stage on,
/// global average pooling and a linear classifier.
/// </summary>
internal sealed class ResNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _stem;
    private readonly BatchNorm2d _stemNorm;
    private readonly ModuleList<ResidualBlock> _blocks;
    private readonly Linear _head;

    /// <summary>Creates the network.</summary>
    /// <param name="width">Channels of the stem and first stage.</param>
    /// <param name="stages">Number of stages (each after the first doubles the width, stride 2).</param>
    /// <param name="blocksPerStage">Residual blocks per stage.</param>
    /// <param name="classes">Output classes.</param>
    public ResNet(int width = 16, int stages = 3, int blocksPerStage = 1, int classes = 10)
        : base(nameof(ResNet))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stages);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocksPerStage);
        _stem = nn.Conv2d(1, width, 3, stride: 1, padding: 1, bias: false);
        _stemNorm = nn.BatchNorm2d(width);
        var blocks = new List<ResidualBlock>();
        var channels = width;
        for (var stage = 0; stage < stages; stage++)
        {
            var outputChannels = width << stage;
            for (var block = 0; block < blocksPerStage; block++)
            {
                var stride = stage > 0 && block == 0 ? 2 : 1;
                blocks.Add(new ResidualBlock(channels, outputChannels, stride));
                channels = outputChannels;
            }
        }
        _blocks = nn.ModuleList(blocks.ToArray());
        _head = nn.Linear(channels, classes);
        register_module("stem", _stem);
        register_module("stem_norm", _stemNorm);
        register_module("blocks", _blocks);
        register_module("head", _head);
    }

    /// <summary>Maps <c>[B, 1, 28, 28]</c> images to <c>[B, classes]</c> logits.</summary>
    public override Tensor forward(Tensor input)
    {
        using var stem = _stem.call(input);
        using var normed = _stemNorm.call(stem);
        var x = nn.functional.relu(normed);
        foreach (var block in _blocks)
        {
            var next = block.call(x);
            x.Dispose();
            x = next;
        }
        using var pooled = x.mean([2L, 3L]);
        x.Dispose();
        return _head.call(pooled);
    }
}
