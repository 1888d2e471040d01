using Adan.Sharded.Optim;
using Adan.TestSupport;
using TorchSharp;
using TorchSharp.Modules;
using AdanOptimizer = Adan.Sharded.Optim.Adan;

namespace Adan.Sharded.Tests.Optim;

/// <summary>
/// Replays every golden trajectory of the official Adan with each kernel: parameters after every
/// step within 1e-5 + 1e-5·|ref|, the final state within the README's tolerance, the step exact.
/// </summary>
public class AdanGoldenTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in GoldenCase.FileNames())
        {
            data.Add(file, nameof(AdanKernelKind.Fused));
            data.Add(file, nameof(AdanKernelKind.Reference));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReproducesOfficialTrajectory(string file, string kernel)
    {
        var golden = GoldenCase.Load(file);
        var kind = Enum.Parse<AdanKernelKind>(kernel);
        var parameters = golden.Params
            .Select(p => new Parameter(torch.tensor(p.Init, p.Shape), requires_grad: true))
            .ToArray();
        var groups = golden.Groups.Select(g => new AdanOptimizer.ParamGroup(g.Params.Select(i => parameters[i]),
            lr: g.Lr, beta1: g.Beta1, beta2: g.Beta2, beta3: g.Beta3, eps: g.Eps, weightDecay: g.WeightDecay, noProx: g.NoProx));
        using var optimizer = new AdanOptimizer(groups, maxGradNorm: golden.MaxGradNorm) { Kernel = kind };

        for (var s = 0; s < golden.Steps.Count; s++)
        {
            var step = golden.Steps[s];
            if (step.Restart)
            {
                optimizer.restart();
            }
            if (step.Lr is not null)
            {
                var controllers = optimizer.ParamGroups.ToArray();
                for (var g = 0; g < controllers.Length; g++)
                {
                    controllers[g].LearningRate = step.Lr[g];
                }
            }
            for (var p = 0; p < parameters.Length; p++)
            {
                parameters[p].grad = step.Grads[p] is { } grad ? torch.tensor(grad, golden.Params[p].Shape) : null;
            }
            optimizer.step();
            for (var p = 0; p < parameters.Length; p++)
            {
                Tolerance.AssertClose(parameters[p].data<float>().ToArray(), step.ParamsAfter[p], 1e-5, 1e-5,
                    $"{golden.Name} [{kernel}] step {s + 1} param {golden.Params[p].Name}");
            }
        }

        var groupOf = new int[parameters.Length];
        for (var g = 0; g < golden.Groups.Count; g++)
        {
            foreach (var p in golden.Groups[g].Params)
            {
                groupOf[p] = g;
            }
        }
        var groupSteps = optimizer.Groups.Select(g => g.Step).ToArray();
        for (var p = 0; p < parameters.Length; p++)
        {
            var what = $"{golden.Name} [{kernel}] final state of {golden.Params[p].Name}";
            var state = optimizer.StateOf(parameters[p]);
            if (golden.FinalState[p] is not { } expected)
            {
                Assert.False(state.HasPreviousGradient, $"{what}: the reference has no state, but the parameter had a gradient");
                continue;
            }
            Assert.True(expected.Step == groupSteps[groupOf[p]], $"{what}: step {groupSteps[groupOf[p]]}, expected {expected.Step}");
            Tolerance.AssertStateClose(state.exp_avg.data<float>().ToArray(), expected.ExpAvg, $"{what}: exp_avg");
            Tolerance.AssertStateClose(state.exp_avg_sq.data<float>().ToArray(), expected.ExpAvgSq, $"{what}: exp_avg_sq");
            Tolerance.AssertStateClose(state.exp_avg_diff.data<float>().ToArray(), expected.ExpAvgDiff, $"{what}: exp_avg_diff");
            Tolerance.AssertStateClose(state.neg_pre_grad.data<float>().ToArray(), expected.NegPreGrad, $"{what}: neg_pre_grad");
        }
    }
}
