using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Zero;
using Adan.TestSupport;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Sharded.Tests.Nccl;

/// <summary>Replays a golden case in one process with ShardedOptimizer's tensor-op update, its buffers on a given device.</summary>
internal static class GoldenReplay
{
    /// <summary>The parameters after every step, copied to the host.</summary>
    public static List<float[][]> Run(GoldenCase golden, torch.Device device)
    {
        using var scope = torch.NewDisposeScope();
        var parameters = golden.Params.Select(p => (p.Name, new Parameter(torch.tensor(p.Init, p.Shape).to(device)))).ToList();
        using var collective = new SingleProcessCollective();
        using var flat = new FlatParameters(parameters, 1, alignment: 1, trackUnusedParameters: true);
        var groups = golden.Groups.Select(g => (new AdanGroupOptions
        {
            LearningRate = g.Lr, Beta1 = g.Beta1, Beta2 = g.Beta2, Beta3 = g.Beta3, Eps = g.Eps, WeightDecay = g.WeightDecay, NoProx = g.NoProx,
        }, g.Params));
        using var adan = ShardedOptimizers.Create(flat, collective, groups, golden.MaxGradNorm, kernel: UpdateKernel.Reference);
        Assert.Equal(device.type, adan.StateBuffer("exp_avg").device_type);
        var trajectory = new List<float[][]>();
        foreach (var step in golden.Steps)
        {
            if (step.Restart)
            {
                adan.Restart();
            }
            if (step.Lr is { } lrs)
            {
                for (var g = 0; g < lrs.Length; g++)
                {
                    adan.Groups[g].Options.LearningRate = lrs[g];
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
            Assert.True(adan.Step(), "a finite step was skipped");
            trajectory.Add(flat.Parameters.Select(p => p.detach().cpu().data<float>().ToArray()).ToArray());
        }
        return trajectory;
    }
}
