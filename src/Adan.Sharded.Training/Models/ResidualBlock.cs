using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// A basic ResNet block: conv3x3-BN-ReLU-conv3x3-BN plus the input (through a 1x1 conv and BN
/// when the shape changes), then ReLU.
/// </summary>
internal sealed class ResidualBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv1;
    private readonly BatchNorm2d _norm1;
    private readonly Conv2d _conv2;
    private readonly BatchNorm2d _norm2;
    private readonly Conv2d? _shortcut;
    private readonly BatchNorm2d? _shortcutNorm;

    /// <summary>Creates the block; <paramref name="stride"/> 2 halves the spatial size.</summary>
    public ResidualBlock(int inputChannels, int outputChannels, int stride)
        : base(nameof(ResidualBlock))
    {
        // Convolutions feeding a BatchNorm need no bias: the norm's shift replaces it.
        _conv1 = nn.Conv2d(inputChannels, outputChannels, 3, stride: stride, padding: 1, bias: false);
        _norm1 = nn.BatchNorm2d(outputChannels);
        _conv2 = nn.Conv2d(outputChannels, outputChannels, 3, stride: 1, padding: 1, bias: false);
        _norm2 = nn.BatchNorm2d(outputChannels);
        register_module("conv1", _conv1);
        register_module("norm1", _norm1);
        register_module("conv2", _conv2);
        register_module("norm2", _norm2);
        if (stride != 1 || inputChannels != outputChannels)
        {
            _shortcut = nn.Conv2d(inputChannels, outputChannels, 1, stride: stride, bias: false);
            _shortcutNorm = nn.BatchNorm2d(outputChannels);
            register_module("shortcut", _shortcut);
            register_module("shortcut_norm", _shortcutNorm);
        }
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var a = _conv1.call(input);
        using var b = _norm1.call(a);
        using var c = nn.functional.relu(b);
        using var d = _conv2.call(c);
        using var e = _norm2.call(d);
        if (_shortcut is null)
        {
            using var sum = e.add(input);
            return nn.functional.relu(sum);
        }
        using var s = _shortcut.call(input);
        using var t = _shortcutNorm!.call(s);
        using var total = e.add(t);
        return nn.functional.relu(total);
    }
}
