using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Tests.Nccl;
using Adan.Sharded.Tests.Optim;
using Adan.Sharded.Zero;
using Adan.Sharded.Zero.Rules;
using Adan.TestSupport;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// ShardedOptimizer's tensor-op update (<see cref="LambTensorStep"/>, what a GPU run uses) in one process against every
/// LAMB golden trajectory: parameters within 1e-5 + 1e-5·|ref|, clip divisors within 1e-6 relative, the final state
/// within the README's state tolerance; forced on CPU tensors here, on CUDA where a GPU is present.
/// </summary>
public class LambTensorStepTests
{
    [Theory]
    [MemberData(nameof(LambGoldenTests.Cases), MemberType = typeof(LambGoldenTests))]
    public void TheTensorUpdateInOneProcessReproducesTheGoldenTrajectory(string file) => Replay(LambGoldenCase.Load(file), torch.CPU, UpdateKernel.Reference);

    [GpuFact]
    public void ShardedLambOnCudaReproducesTheGoldenTrajectory()
    {
        foreach (var file in LambGoldenCase.FileNames())
        {
            Replay(LambGoldenCase.Load(file), new torch.Device("cuda:0"), UpdateKernel.Auto);
        }
    }

    [Fact]
    public void TheFusedKernelIsRefusedForMemoryItCannotReachAndAutoPicksItOnTheCpu()
    {
        using var collective = new SingleProcessCollective();
        using var flat = new FlatParameters([("w", new Parameter(torch.ones(4)))], 1);
        using (var auto = ShardedOptimizers.Create(flat, collective, new LambGroupOptions()))
        {
            Assert.Equal(UpdateKernel.Fused, auto.Kernel);
        }
        using var forced = ShardedOptimizers.Create(flat, collective, new LambGroupOptions(), kernel: UpdateKernel.Reference);
        Assert.Equal(UpdateKernel.Reference, forced.Kernel);
    }

    private static void Replay(LambGoldenCase golden, torch.Device device, UpdateKernel kernel)
    {
        using var scope = torch.NewDisposeScope();
        var parameters = golden.Params.Select(p => (p.Name, new Parameter(torch.tensor(p.Init, p.Shape).to(device)))).ToList();
        using var collective = new SingleProcessCollective();
        using var flat = new FlatParameters(parameters, 1, alignment: 1, trackUnusedParameters: true);
        var groups = golden.Groups.Select(g => (new LambGroupOptions
        {
            LearningRate = g.Lr, Beta1 = g.Beta1, Beta2 = g.Beta2, Eps = g.Eps, WeightDecay = g.WeightDecay, BiasCorrection = g.BiasCorrection,
            GradAveraging = g.GradAveraging, TrustClip = g.TrustClip, AlwaysAdapt = g.AlwaysAdapt,
        }, g.Params));
        using var lamb = ShardedOptimizers.Create(flat, collective, groups, golden.MaxGradNorm ?? 0, kernel: kernel);
        Assert.Equal(UpdateKernel.Reference, lamb.Kernel);
        Assert.Equal(device.type, lamb.StateBuffer("exp_avg").device_type);
        for (var s = 0; s < golden.Steps.Count; s++)
        {
            var step = golden.Steps[s];
            if (step.Lr is { } lrs)
            {
                for (var g = 0; g < lrs.Length; g++)
                {
                    lamb.Groups[g].Options.LearningRate = lrs[g];
                }
            }
            flat.ZeroGrad();
            for (var i = 0; i < parameters.Count; i++)
            {
                if (step.Grads[i] is { } grad)
                {
                    flat.Parameters[i].grad = torch.tensor(grad, golden.Params[i].Shape).to(device);
                }
            }
            Assert.True(lamb.Step(), "a finite step was skipped");
            if (step.ClipDivisor is { } divisor)
            {
                Assert.True(Math.Abs(1 / lamb.LastClipCoefficient - divisor) <= 1e-6 * divisor,
                    $"{golden.Name} on {device}: step {s + 1} clip divisor {1 / lamb.LastClipCoefficient:R}, expected {divisor:R}");
            }
            for (var p = 0; p < parameters.Count; p++)
            {
                Tolerance.AssertClose(flat.Parameters[p].detach().cpu().data<float>().ToArray(), step.ParamsAfter[p], 1e-5, 1e-5,
                    $"{golden.Name} tensor update on {device}: step {s + 1}, parameter {golden.Params[p].Name}");
            }
        }
        var state = LambRule.Names.ToDictionary(n => n, n => lamb.StateBuffer(n).cpu().data<float>().ToArray());
        for (var p = 0; p < parameters.Count; p++)
        {
            if (golden.FinalState[p] is not { } expected)
            {
                Assert.False(lamb.HasHadGradient[p], $"{golden.Name}: {golden.Params[p].Name} never had a gradient");
                continue;
            }
            var entry = flat.Layout.Entries[p];
            Tolerance.AssertStateClose(state["exp_avg"].AsSpan((int)entry.Offset, (int)entry.Numel).ToArray(), expected.ExpAvg,
                $"{golden.Name} on {device}: exp_avg of {golden.Params[p].Name}");
            Tolerance.AssertStateClose(state["exp_avg_sq"].AsSpan((int)entry.Offset, (int)entry.Numel).ToArray(), expected.ExpAvgSq,
                $"{golden.Name} on {device}: exp_avg_sq of {golden.Params[p].Name}");
        }
    }
}
