using Adan.Sharded.Optim;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Optim;

/// <summary>Checkpointing, validation and refusals of the <see cref="Lamb"/> bookkeeping.</summary>
public class LambOptimizerTests
{
    [Fact]
    public void SaveLoadContinueEqualsUninterruptedRun()
    {
        const int Steps = 10;
        const int SaveAfter = 4;
        var grads = RandomGrads(Steps, seed: 11);

        var (straightParams, straight) = Create();
        for (var s = 0; s < Steps; s++)
        {
            Step(straight, straightParams, grads[s]);
        }

        var (firstParams, first) = Create();
        for (var s = 0; s < SaveAfter; s++)
        {
            Step(first, firstParams, grads[s]);
        }
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            first.save_state_dict(writer);
        }

        var (resumedParams, resumed) = Create();
        for (var p = 0; p < resumedParams.Length; p++)
        {
            using var noGrad = no_grad();
            resumedParams[p].copy_(firstParams[p]);
        }
        stream.Position = 0;
        using (var reader = new BinaryReader(stream))
        {
            resumed.load_state_dict(reader);
        }
        Assert.Equal(first.Groups.Select(g => g.Step), resumed.Groups.Select(g => g.Step));
        for (var s = SaveAfter; s < Steps; s++)
        {
            Step(resumed, resumedParams, grads[s]);
        }

        Assert.Equal(straight.Groups.Select(g => g.Step), resumed.Groups.Select(g => g.Step));
        Assert.Equal(straight.Groups.Select(g => g.LearningRate), resumed.Groups.Select(g => g.LearningRate));
        for (var p = 0; p < straightParams.Length; p++)
        {
            Assert.Equal(straightParams[p].data<float>().ToArray(), resumedParams[p].data<float>().ToArray());
            var expected = straight.StateOf(straightParams[p]);
            var actual = resumed.StateOf(resumedParams[p]);
            Assert.Equal(expected.exp_avg.data<float>().ToArray(), actual.exp_avg.data<float>().ToArray());
            Assert.Equal(expected.exp_avg_sq.data<float>().ToArray(), actual.exp_avg_sq.data<float>().ToArray());
        }
    }

    public static TheoryData<string, Func<Lamb>, string> InvalidArguments()
    {
        var p = new[] { new Parameter(zeros(3)) };
        return new TheoryData<string, Func<Lamb>, string>
        {
            { "lr", () => new Lamb(p, lr: -1e-3), "-0.001" },
            { "eps", () => new Lamb(p, eps: -1), "-1" },
            { "maxGradNorm", () => new Lamb(p, maxGradNorm: -0.5), "-0.5" },
            { "maxGradNorm", () => new Lamb(p, maxGradNorm: double.PositiveInfinity), "Infinity" },
            { "weight_decay", () => new Lamb(p, weightDecay: -0.1), "-0.1" },
            { "beta1", () => new Lamb(p, beta1: 1.0), "1" },
            { "beta2", () => new Lamb(p, beta2: double.NaN), "NaN" },
            { "beta1", () => new Lamb([new Lamb.ParamGroup(p, beta1: -0.5)]), "-0.5" },
        };
    }

    [Theory]
    [MemberData(nameof(InvalidArguments))]
    public void InvalidHyperParameterIsRejectedWithNameValueAndRange(string name, Func<Lamb> create, string value)
    {
        var error = Assert.Throws<ArgumentException>(() => create());
        Assert.Equal(name, error.ParamName);
        Assert.StartsWith("Invalid ", error.Message);
        Assert.Contains(value, error.Message);
        Assert.Matches(@">= 0|\[0, 1\)", error.Message);
    }

    [Fact]
    public void Beta1OfAGroupIsNamedWithItsGroup()
    {
        var p = new[] { new Parameter(zeros(3)) };
        var error = Assert.Throws<ArgumentException>(() => new Lamb([new Lamb.ParamGroup(p, beta1: 1.5)]));
        Assert.StartsWith("Invalid beta1 of parameter group 0: 1.5; it must be in [0, 1).", error.Message);
    }

    [Fact]
    public void EmptyParameterListIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new Lamb(Array.Empty<Parameter>()));
        Assert.Contains("empty parameter list", error.Message);
    }

    [Fact]
    public void NullOrZeroMaxGradNormDisablesClipping()
    {
        foreach (double? maxGradNorm in new double?[] { null, 0.0 })
        {
            var parameter = new Parameter(ones(4));
            using var optimizer = new Lamb([parameter], maxGradNorm: maxGradNorm);
            parameter.grad = full(4, 100f);
            optimizer.step();
            Assert.Equal(1.0, optimizer.LastClipDivisor);
        }
    }

    private static (Parameter[] Parameters, Lamb Optimizer) Create()
    {
        var generator = manual_seed(5);
        var parameters = new[] { new Parameter(randn(4, 3, generator: generator)), new Parameter(randn(5, generator: generator)) };
        var optimizer = new Lamb([new Lamb.ParamGroup([parameters[0]], lr: 0.01), new Lamb.ParamGroup([parameters[1]], lr: 0.02, weightDecay: 0.0)],
            maxGradNorm: 1.0, trustClip: true);
        return (parameters, optimizer);
    }

    private static float[][][] RandomGrads(int steps, int seed)
    {
        var generator = new Random(seed);
        return Enumerable.Range(0, steps)
            .Select(_ => new[] { 12, 5 }.Select(n => Enumerable.Range(0, n).Select(_ => (float)(generator.NextDouble() * 4 - 2)).ToArray()).ToArray())
            .ToArray();
    }

    private static void Step(Lamb optimizer, Parameter[] parameters, float[][] grads)
    {
        for (var p = 0; p < parameters.Length; p++)
        {
            parameters[p].grad = tensor(grads[p], parameters[p].shape);
        }
        optimizer.step();
    }
}
