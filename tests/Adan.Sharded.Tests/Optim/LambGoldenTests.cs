using Adan.Sharded.Optim;
using Adan.TestSupport;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Optim;

/// <summary>
/// Replays every golden trajectory of timm's LAMB through <see cref="Lamb"/>: parameters after every
/// step within 1e-5 + 1e-5·|ref| (Adan's tolerance), the clip divisor within 1e-6 relative, the
/// final state within the README's state tolerance, the step exact. The largest parameter
/// difference is written to the test output.
/// </summary>
public class LambGoldenTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var file in LambGoldenCase.FileNames())
        {
            data.Add(file);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReproducesTimmTrajectory(string file)
    {
        var golden = LambGoldenCase.Load(file);
        var parameters = golden.Params
            .Select(p => new Parameter(torch.tensor(p.Init, p.Shape), requires_grad: true))
            .ToArray();
        var groups = golden.Groups.Select(g => new Lamb.ParamGroup(g.Params.Select(i => parameters[i]), lr: g.Lr, beta1: g.Beta1,
            beta2: g.Beta2, eps: g.Eps, weightDecay: g.WeightDecay, biasCorrection: g.BiasCorrection, gradAveraging: g.GradAveraging,
            trustClip: g.TrustClip, alwaysAdapt: g.AlwaysAdapt));
        using var optimizer = new Lamb(groups, maxGradNorm: golden.MaxGradNorm);

        var maxDiff = 0.0;
        for (var s = 0; s < golden.Steps.Count; s++)
        {
            var step = golden.Steps[s];
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
            if (step.ClipDivisor is { } divisor)
            {
                Assert.True(Math.Abs(optimizer.LastClipDivisor - divisor) <= 1e-6 * divisor,
                    $"{golden.Name} step {s + 1}: clip divisor {optimizer.LastClipDivisor:R}, expected {divisor:R}");
            }
            for (var p = 0; p < parameters.Length; p++)
            {
                var actual = parameters[p].data<float>().ToArray();
                maxDiff = Math.Max(maxDiff, MaxAbsDiff(actual, step.ParamsAfter[p]));
                Tolerance.AssertClose(actual, step.ParamsAfter[p], 1e-5, 1e-5, $"{golden.Name} step {s + 1} param {golden.Params[p].Name}");
            }
        }
        output.WriteLine($"{file}: max |param - ref| over all steps = {maxDiff:E3}");

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
            var what = $"{golden.Name} final state of {golden.Params[p].Name}";
            var state = optimizer.StateOf(parameters[p]);
            if (golden.FinalState[p] is not { } expected)
            {
                Assert.True(state.exp_avg_sq.count_nonzero().item<long>() == 0, $"{what}: the reference has no state, but the parameter had a gradient");
                continue;
            }
            Assert.True(expected.Step == groupSteps[groupOf[p]], $"{what}: step {groupSteps[groupOf[p]]}, expected {expected.Step}");
            Tolerance.AssertStateClose(state.exp_avg.data<float>().ToArray(), expected.ExpAvg, $"{what}: exp_avg");
            Tolerance.AssertStateClose(state.exp_avg_sq.data<float>().ToArray(), expected.ExpAvgSq, $"{what}: exp_avg_sq");
        }
    }

    internal static double MaxAbsDiff(float[] actual, float[] expected)
    {
        var max = 0.0;
        for (var i = 0; i < Math.Min(actual.Length, expected.Length); i++)
        {
            max = Math.Max(max, Math.Abs((double)actual[i] - expected[i]));
        }
        return max;
    }
}
