using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Zero;
using Adan.Sharded.Training;
using TorchSharp;

namespace Adan.Worker.Tests.Training;

/// <summary>Every optimizer the trainer drives skips a step with non-finite gradients, says so, and counts it.</summary>
public class TrainingOptimizerTests
{
    [Fact]
    public void SgdSkipsNonFiniteGradientsLikeAdan()
    {
        using var collective = new SingleProcessCollective();
        torch.manual_seed(3);
        using var model = torch.nn.Sequential(("fc", torch.nn.Linear(5, 3)));
        using var flat = FlatParameters.FromModule(model, 1);
        using var optimizer = new TrainingOptimizer(ShardedOptimizers.Create(flat, collective, new SgdGroupOptions { LearningRate = 0.1 }));
        Assert.Equal("sgd", optimizer.Name);

        using var before = flat.Values.clone();
        flat.ZeroGrad();
        flat.Gradients!.fill_(1f);
        flat.Gradients[4] = float.NaN;
        Assert.False(optimizer.Step(1));
        Assert.Equal(1, optimizer.SkippedSteps);
        Assert.True(before.eq(flat.Values).all().item<bool>(), "a skipped step must leave the parameters alone");

        flat.ZeroGrad();
        flat.Gradients!.fill_(1f);
        Assert.True(optimizer.Step(1));
        Assert.Equal(1, optimizer.SkippedSteps);
        Assert.False(before.eq(flat.Values).all().item<bool>(), "an applied step must move the parameters");

        for (var i = 1; i < 10; i++)
        {
            flat.ZeroGrad();
            flat.Gradients!.fill_(float.PositiveInfinity);
            Assert.False(optimizer.Step(1));
        }
        flat.ZeroGrad();
        flat.Gradients!.fill_(float.NegativeInfinity);
        var e = Assert.Throws<NonFiniteGradientException>(() => optimizer.Step(1));
        Assert.Contains("10 consecutive steps", e.Message);
        Assert.Equal(11, optimizer.SkippedSteps);
    }

    [Fact]
    public void ShardedAdanReportsItsSkipsAndItsCheckpointableState()
    {
        using var collective = new SingleProcessCollective();
        torch.manual_seed(3);
        using var model = torch.nn.Sequential(("fc", torch.nn.Linear(5, 3)));
        using var flat = FlatParameters.FromModule(model, 1);
        var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions());
        using var optimizer = new TrainingOptimizer(adan);
        Assert.Same(adan, optimizer.Sharded);

        flat.ZeroGrad();
        flat.Gradients!.fill_(float.NaN);
        Assert.False(optimizer.Step(1));
        Assert.Equal(1, optimizer.SkippedSteps);
        flat.ZeroGrad();
        flat.Gradients!.fill_(0.5f);
        Assert.True(optimizer.Step(1));
        Assert.Equal(1, optimizer.SkippedSteps);
    }
}
