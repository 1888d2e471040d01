using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// One rank: the small batch is the first micro-batch (<see cref="ShardedOptimizer.RecordSmallBatchGradient"/>), the
/// big batch the step's k; ℓ and γ equal the squared norms computed from the autograd gradients of each micro-batch,
/// to 1e-6 relative (fp32 gradients, norms in double).
/// </summary>
public class NoiseSampleTests
{
    [Theory]
    [InlineData(ZeroStage.Replicated)]
    [InlineData(ZeroStage.OptimizerState)]
    public void OneRankTakesTheFirstMicroBatchAsTheSmallBatch(ZeroStage stage)
    {
        manual_seed(3);
        using var model = nn.Linear(6, 2);
        using var flat = FlatParameters.FromModule(model, 1);
        using var sgd = ShardedOptimizers.Create(flat, new SingleProcessCollective(), new SgdGroupOptions { LearningRate = 0, MaxGradNorm = 1e-3 },
            stage: stage);
        using var x = randn(3, 8, 6);
        using var y = randn(3, 8, 2);
        var perMicro = Enumerable.Range(0, 3).Select(m => Gradient(model, x[m], y[m])).ToArray();

        flat.ZeroGrad();
        for (var m = 0; m < 3; m++)
        {
            Loss(model, x[m], y[m]).backward();
            if (m == 0)
            {
                sgd.RecordSmallBatchGradient();
            }
        }
        Assert.True(sgd.Step(3));
        var sample = sgd.LastNoiseSample!.Value;
        var small = perMicro[0].Sum(v => v * v);
        var big = Enumerable.Range(0, perMicro[0].Length).Select(i => perMicro.Average(g => g[i])).Sum(v => v * v);
        Assert.Equal(1, sample.SmallMicroBatches);
        Assert.Equal(3, sample.BigMicroBatches);
        Assert.Equal(small, sample.SmallSquaredNorm, small * 1e-6);
        Assert.Equal(big, sample.BigSquaredNorm, big * 1e-6);
        Assert.True(sgd.LastClipCoefficient < 1);

        flat.ZeroGrad();
        Loss(model, x[0], y[0]).backward();
        Loss(model, x[1], y[1]).backward();
        Assert.True(sgd.Step(2));
        Assert.Null(sgd.LastNoiseSample);
    }

    [Fact]
    public void OffMeasuresNothing()
    {
        using var model = nn.Linear(4, 1);
        using var flat = FlatParameters.FromModule(model, 1);
        using var sgd = ShardedOptimizers.Create(flat, new SingleProcessCollective(), new SgdGroupOptions { LearningRate = 0 },
            measureGradientNoise: false);
        flat.ZeroGrad();
        using var x = randn(2, 4);
        Loss(model, x, x.sum(1, keepdim: true)).backward();
        sgd.RecordSmallBatchGradient();
        Loss(model, x, x.sum(1, keepdim: true)).backward();
        Assert.True(sgd.Step(2));
        Assert.False(sgd.MeasuresGradientNoise);
        Assert.Null(sgd.LastNoiseSample);
    }

    private static Tensor Loss(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y) => nn.functional.mse_loss(model.call(x), y);

    private static double[] Gradient(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        var copy = nn.Linear(6, 2);
        using (no_grad())
        {
            foreach (var (p, q) in copy.parameters().Zip(model.parameters()))
            {
                p.copy_(q);
            }
        }
        Loss(copy, x, y).backward();
        var gradient = copy.parameters().SelectMany(p => p.grad!.data<float>().ToArray()).Select(v => (double)v).ToArray();
        copy.Dispose();
        return gradient;
    }
}
