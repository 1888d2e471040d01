using Adan.MultiRank;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Tests.Nccl;
using Adan.Sharded.Tests.Optim;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// The two updates of the AdamW and SGD rules, the fused CPU kernels (<see cref="Optim.AdamWKernel"/>,
/// <see cref="Optim.SgdKernel"/>) and the tensor operations a GPU run uses, agree on seeded random data: parameters and
/// state within 1e-6 + 1e-6·|x| after 5 steps with clipping and weight decay (float32 rounding of the same operations:
/// the kernel forms m + (1 − β1)(g − m) where libtorch's lerp may fuse a multiply-add). And the tensor update on CUDA
/// matches TorchSharp's optimizers as the CPU does (<see cref="ShardedAdamWSgdTests"/>'s tolerances).
/// </summary>
public class AdamWSgdTensorStepTests(ITestOutputHelper output)
{
    private const int Steps = 5;

    [Theory]
    [InlineData("adamw")]
    [InlineData("sgd")]
    [InlineData("sgd_momentum_dampening")]
    [InlineData("sgd_nesterov")]
    public void TheFusedKernelAndTheTensorUpdateAgreeOnRandomData(string optimizer)
    {
        var fused = Run(optimizer, UpdateKernel.Fused);
        var tensor = Run(optimizer, UpdateKernel.Reference);
        output.WriteLine($"{optimizer}: max |fused - tensor| parameters {MaxAbsDiff(fused.Parameters, tensor.Parameters):E2}, " +
            string.Join(", ", fused.State.Keys.Select(n => $"{n} {MaxAbsDiff(fused.State[n], tensor.State[n]):E2}")));
        Tolerance.AssertClose(fused.Parameters, tensor.Parameters, 1e-6, 1e-6, $"{optimizer}: parameters, fused vs tensor update");
        foreach (var name in fused.State.Keys)
        {
            Tolerance.AssertClose(fused.State[name], tensor.State[name], 1e-6, 1e-6, $"{optimizer}: {name}, fused vs tensor update");
        }
    }

    [GpuFact]
    public void TheTensorUpdateOnCudaMatchesTorchOptim()
    {
        using var collective = new SingleProcessCollective();
        foreach (var optimCase in TorchOptimProblem.Cases)
        {
            var reference = TorchOptimProblem.Reference(optimCase);
            var actual = TorchOptimProblem.Sharded(optimCase, collective, ZeroStage.OptimizerState, UpdateKernel.Auto, new torch.Device("cuda:0"));
            var d = TorchOptimProblem.Compare(optimCase, ZeroStage.OptimizerState, UpdateKernel.Reference, reference, actual);
            output.WriteLine($"{d.Case} on CUDA: max |param - torch| = {d.MaxParameter:E2} ({d.WorstParameter}), " +
                $"state {string.Join(", ", d.MaxState.Select(kv => $"{kv.Key} {kv.Value:E2}"))}");
            Assert.True(d.StepMismatch is null, $"{d.Case} on CUDA: {d.StepMismatch}");
            Assert.True(d.MaxParameter <= 1e-6, $"{d.Case} on CUDA: max |param - torch| = {d.MaxParameter:E3} at {d.WorstParameter} (tolerance 1E-006)");
            Assert.All(d.MaxState, kv => Assert.True(kv.Value <= 1e-6, $"{d.Case} on CUDA: {kv.Key} differs by {kv.Value:E3} (tolerance 1E-006)"));
        }
    }

    // Two parameters of odd sizes, so the vector loops end in scalar tails; gradients ~N(0, 1)-sized with the norm clipped to 10.
    private static (float[] Parameters, Dictionary<string, float[]> State) Run(string optimizer, UpdateKernel kernel)
    {
        using var scope = torch.NewDisposeScope();
        var random = new Random(7);
        float[] Values(int n, float scale) => Enumerable.Range(0, n).Select(_ => scale * (2 * random.NextSingle() - 1)).ToArray();
        var shapes = new long[] { 4099, 37 };
        var parameters = shapes.Select((n, i) => ($"p{i}", new Parameter(torch.tensor(Values((int)n, 1f))))).ToList();
        IGroupOptions options = optimizer switch
        {
            "adamw" => new AdamWGroupOptions { LearningRate = 1e-2, WeightDecay = 0.1 },
            "sgd" => new SgdGroupOptions { LearningRate = 0.05, WeightDecay = 0.01 },
            "sgd_momentum_dampening" => new SgdGroupOptions { LearningRate = 0.05, Momentum = 0.9, Dampening = 0.2, WeightDecay = 0.01 },
            "sgd_nesterov" => new SgdGroupOptions { LearningRate = 0.05, Momentum = 0.9, Nesterov = true, WeightDecay = 0.01 },
            _ => throw new ArgumentException($"unknown optimizer {optimizer}", nameof(optimizer)),
        };
        using var collective = new SingleProcessCollective();
        using var flat = new FlatParameters(parameters, 1, alignment: 1);
        using var engine = ShardedOptimizers.Create(flat, collective, options, maxGradNorm: 10, stage: ZeroStage.OptimizerState, kernel: kernel);
        Assert.Equal(kernel, engine.Kernel);
        for (var s = 0; s < Steps; s++)
        {
            flat.ZeroGrad();
            flat.Gradients.copy_(torch.tensor(Values((int)flat.Layout.TotalNumel, 1.7f)));
            Assert.True(engine.Step(), $"{optimizer}: a finite step was skipped");
            Assert.True(engine.LastClipCoefficient < 1, $"{optimizer}: the test is void unless the clip is active");
        }
        return (flat.Values.data<float>().ToArray(), engine.StateNames.ToDictionary(n => n, n => engine.StateBuffer(n).data<float>().ToArray()));
    }

    private static double MaxAbsDiff(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs((double)p.First - p.Second));
}
