using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// A one-hidden-layer perceptron for 28x28 images: flatten, 784 → hidden, ReLU, hidden → classes.
/// </summary>
internal sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear _hidden;
    private readonly Linear _output;

    /// <summary>Creates the network; parameters are <c>hidden.*</c> then <c>output.*</c>.</summary>
    public Mlp(int inputs = 784, int hidden = 256, int classes = 10)
        : base(nameof(Mlp))
    {
        _hidden = nn.Linear(inputs, hidden);
        _output = nn.Linear(hidden, classes);
        register_module("hidden", _hidden);
        register_module("output", _output);
    }

    /// <summary>Maps <c>[B, 1, 28, 28]</c> (or <c>[B, 784]</c>) images to <c>[B, classes]</c> logits.</summary>
    public override Tensor forward(Tensor input)
    {
        using var flat = input.flatten(1);
        using var hidden = _hidden.call(flat);
        using var activated = nn.functional.relu(hidden);
        return _output.call(activated);
    }
}
