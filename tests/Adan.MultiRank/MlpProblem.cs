using Adan.Sharded.Zero;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>The MLP, data and Adan options shared by the sharded scenario and its single-process reference.</summary>
public static class MlpProblem
{
    public const int GlobalBatch = 24;

    public static nn.Module<Tensor, Tensor> Model()
    {
        manual_seed(11);
        return nn.Sequential(("fc1", nn.Linear(10, 33)), ("act", nn.Tanh()), ("fc2", nn.Linear(33, 5)));
    }

    /// <summary>
    /// The same problem with a 512-wide hidden layer, so that fc1.weight (5,120 elements) and fc2.weight (2,560) straddle
    /// quantisation blocks and ranks while the biases stay under the small-tensor threshold: for low-precision state.
    /// </summary>
    public static nn.Module<Tensor, Tensor> WideModel()
    {
        manual_seed(11);
        return nn.Sequential(("fc1", nn.Linear(10, 512)), ("act", nn.Tanh()), ("fc2", nn.Linear(512, 5)));
    }

    public static (Tensor X, Tensor Y) Batch(int step)
    {
        manual_seed(5000 + step);
        return (randn(GlobalBatch, 10), randn(GlobalBatch, 5));
    }

    public static Tensor Loss(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y) => nn.functional.mse_loss(model.forward(x), y);

    public static AdanGroupOptions Options() => new() { LearningRate = 0.01, WeightDecay = 0.02 };

    /// <summary>The options of <paramref name="optimizer"/> for this problem: Adan's above, the others' defaults with momentum for SGD.</summary>
    public static IGroupOptions Options(string optimizer) => optimizer switch
    {
        "adan" => Options(),
        "sgd" => new SgdGroupOptions { LearningRate = 0.05, Momentum = 0.9, Nesterov = true, WeightDecay = 0.01 },
        _ => Lr(OptimizerRegistry.Get(optimizer).DefaultOptions(), 0.01),
    };

    private static IGroupOptions Lr(IGroupOptions options, double lr)
    {
        options.LearningRate = lr;
        return options;
    }
}
