using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// The model <c>adan bench zero --layers L</c> trains: L square Linear layers of one width with tanh between them, so
/// that backward produces the gradients layer by layer (last first) and the overlapped reduction launches their
/// buckets while it runs. Called layer by layer with <c>call</c>, so every layer gets the gradient-ready hook.
/// </summary>
internal sealed class LayeredMlp : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> _layers = new();

    public LayeredMlp(int layers, int width)
        : base("bench_layered_mlp")
    {
        for (var i = 0; i < layers; i++)
        {
            _layers.Add(nn.Linear(width, width));
        }
        RegisterComponents();
    }

    /// <summary>The width whose <paramref name="layers"/> square layers hold about <paramref name="parameters"/> weights.</summary>
    public static int WidthFor(long parameters, int layers) => (int)Math.Max(1, Math.Min(int.MaxValue, Math.Sqrt((double)parameters / layers)));

    public override Tensor forward(Tensor input)
    {
        var h = input;
        foreach (var layer in _layers)
        {
            h = nn.functional.tanh(layer.call(h));
        }
        return h;
    }
}
