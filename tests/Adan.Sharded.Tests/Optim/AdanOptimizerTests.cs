using Adan.Sharded.Optim;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using AdanOptimizer = Adan.Sharded.Optim.Adan;

namespace Adan.Sharded.Tests.Optim;

/// <summary>Checkpointing, validation and refusals of the <see cref="AdanOptimizer"/> bookkeeping.</summary>
public class AdanOptimizerTests
{
    [Theory]
    [InlineData(AdanKernelKind.Fused)]
    [InlineData(AdanKernelKind.Reference)]
    public void SaveLoadContinueEqualsUninterruptedRun(AdanKernelKind kind)
    {
        const int Steps = 10;
        const int SaveAfter = 4;
        var grads = RandomGrads(Steps, seed: 7);

        var (straightParams, straight) = Create(kind);
        for (var s = 0; s < Steps; s++)
        {
            Step(straight, straightParams, grads[s]);
        }

        var (firstParams, first) = Create(kind);
        for (var s = 0; s < SaveAfter; s++)
        {
            Step(first, firstParams, grads[s]);
        }
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            first.save_state_dict(writer);
        }

        var (resumedParams, resumed) = Create(kind);
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
            Assert.Equal(expected.exp_avg_sq.data<float>().ToArray(), actual.exp_avg_sq.data<float>().ToArray());
            Assert.Equal(expected.neg_pre_grad.data<float>().ToArray(), actual.neg_pre_grad.data<float>().ToArray());
        }
    }

    [Fact]
    public void LearningRateSchedulerDrivesGroupLearningRate()
    {
        var (parameters, optimizer) = Create(AdanKernelKind.Auto);
        var scheduler = optim.lr_scheduler.StepLR(optimizer, step_size: 1, gamma: 0.5);
        Step(optimizer, parameters, RandomGrads(1, seed: 3)[0]);
        scheduler.step();
        Assert.Equal([0.005, 0.0025], optimizer.Groups.Select(g => g.LearningRate));
    }

    public static TheoryData<string, Func<AdanOptimizer>, string> InvalidArguments()
    {
        var p = new[] { new Parameter(zeros(3)) };
        return new TheoryData<string, Func<AdanOptimizer>, string>
        {
            { "lr", () => new AdanOptimizer(p, lr: -1e-3), "-0.001" },
            { "eps", () => new AdanOptimizer(p, eps: -1), "-1" },
            { "maxGradNorm", () => new AdanOptimizer(p, maxGradNorm: -0.5), "-0.5" },
            { "weight_decay", () => new AdanOptimizer(p, weightDecay: -0.1), "-0.1" },
            { "beta1", () => new AdanOptimizer(p, beta1: 1.0), "1" },
            { "beta2", () => new AdanOptimizer(p, beta2: -0.1), "-0.1" },
            { "beta3", () => new AdanOptimizer(p, beta3: double.NaN), "NaN" },
            { "lr", () => new AdanOptimizer([new AdanOptimizer.ParamGroup(p, lr: -2.0)]), "-2" },
        };
    }

    [Theory]
    [MemberData(nameof(InvalidArguments))]
    public void InvalidHyperParameterIsRejectedWithNameValueAndRange(string name, Func<AdanOptimizer> create, string value)
    {
        var error = Assert.Throws<ArgumentException>(() => create());
        Assert.Equal(name, error.ParamName);
        Assert.Contains(value, error.Message);
        Assert.Matches(@">= 0|\[0, 1\)", error.Message);
    }

    [Fact]
    public void EmptyParameterListIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new AdanOptimizer(Array.Empty<Parameter>()));
        Assert.Equal("parameters", error.ParamName);
        Assert.Contains("at least one parameter", error.Message);
    }

    [Fact]
    public void SparseGradientIsRefusedBeforeAnyStateChanges()
    {
        var (parameters, optimizer) = Create(AdanKernelKind.Auto);
        Step(optimizer, parameters, RandomGrads(1, seed: 5)[0]);
        var paramsBefore = parameters.Select(p => p.data<float>().ToArray()).ToArray();
        var statesBefore = parameters.Select(p => optimizer.StateOf(p).exp_avg.data<float>().ToArray()).ToArray();
        var stepsBefore = optimizer.Groups.Select(g => g.Step).ToArray();

        parameters[0].grad = ones_like(parameters[0]);
        using var indices = tensor(new long[] { 0, 2 }, [1, 2]);
        using var values = tensor(new float[] { 1f, 2f });
        parameters[2].grad = sparse_coo_tensor(indices, values, [parameters[2].shape[0]]);

        Assert.Throws<NotSupportedException>(() => optimizer.step());

        Assert.Equal(stepsBefore, optimizer.Groups.Select(g => g.Step));
        for (var p = 0; p < parameters.Length; p++)
        {
            Assert.Equal(paramsBefore[p], parameters[p].data<float>().ToArray());
            Assert.Equal(statesBefore[p], optimizer.StateOf(parameters[p]).exp_avg.data<float>().ToArray());
        }
    }

    [Fact]
    public void RestartZeroesMomentsAndStepButKeepsNegPreGrad()
    {
        var (parameters, optimizer) = Create(AdanKernelKind.Auto);
        Step(optimizer, parameters, RandomGrads(1, seed: 9)[0]);
        var negPreGrad = optimizer.StateOf(parameters[0]).neg_pre_grad.data<float>().ToArray();

        optimizer.restart();

        Assert.All(optimizer.Groups, g => Assert.Equal(0, g.Step));
        var state = optimizer.StateOf(parameters[0]);
        Assert.All(state.exp_avg.data<float>().ToArray(), v => Assert.Equal(0f, v));
        Assert.All(state.exp_avg_sq.data<float>().ToArray(), v => Assert.Equal(0f, v));
        Assert.All(state.exp_avg_diff.data<float>().ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(negPreGrad, state.neg_pre_grad.data<float>().ToArray());
    }

    // Two groups (one with weight decay, no_prox) and clipping, so every option is checkpointed.
    private static (Parameter[] Parameters, AdanOptimizer Optimizer) Create(AdanKernelKind kind)
    {
        var generator = new Generator(11);
        var parameters = new[]
        {
            new Parameter(randn([4, 5], generator: generator)),
            new Parameter(randn([7], generator: generator)),
            new Parameter(randn([3, 3], generator: generator)),
        };
        var groups = new[]
        {
            new AdanOptimizer.ParamGroup(parameters[..2], weightDecay: 0.02),
            new AdanOptimizer.ParamGroup(parameters[2..], lr: 5e-3, noProx: true, weightDecay: 0.1),
        };
        return (parameters, new AdanOptimizer(groups, lr: 1e-2, maxGradNorm: 2.0) { Kernel = kind });
    }

    private static float[][][] RandomGrads(int steps, int seed)
    {
        var random = new Random(seed);
        int[] sizes = [20, 7, 9];
        return Enumerable.Range(0, steps)
            .Select(_ => sizes.Select(n => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()).ToArray())
            .ToArray();
    }

    private static void Step(AdanOptimizer optimizer, Parameter[] parameters, float[][] grads)
    {
        for (var p = 0; p < parameters.Length; p++)
        {
            parameters[p].grad = tensor(grads[p], parameters[p].shape);
        }
        optimizer.step();
    }
}
