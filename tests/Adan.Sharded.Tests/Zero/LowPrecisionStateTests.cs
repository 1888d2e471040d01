using System.Runtime.Intrinsics;
using Adan.MultiRank;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Zero;
using Adan.Sharded.Zero.Rules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// optimizer_state bf16 and 8bit against a float64 model of each quantised update, one step at a time from the state
/// the engine stored: the parameters within 1e-6 (fp32 arithmetic against float64), bf16 moments within one bf16 ulp
/// (2⁻⁷ relative: stochastic rounding picks one of the two neighbours), 8-bit moments within one code of the nearest
/// code of the exact value (fp32 against float64 may tip a midpoint), their absmax within 1e-5 relative, and bf16
/// neg_pre_grad within half an ulp (2⁻⁸ relative, rounded to nearest). Small parameters keep fp32 state bit for bit.
/// </summary>
public sealed class LowPrecisionStateTests(ITestOutputHelper output)
{
    private const int Steps = 6;

    [Fact]
    public void TheDynamicMapsAreBitsandbytesSizesAndEncodeToTheNearestCode()
    {
        Assert.Equal(128, StateCodes.SignedMagnitudes.Length);
        Assert.Equal(256, StateCodes.UnsignedValues.Length);
        Assert.Equal(1f, StateCodes.SignedMagnitudes[^1]);
        Assert.Equal(0f, StateCodes.UnsignedValues[0]);
        for (var c = 0; c < 256; c++)
        {
            Assert.Equal(c, StateCodes.EncodeUnsigned(StateCodes.DecodeUnsigned((byte)c)));
            if (c != 128)
            {
                Assert.Equal(c, StateCodes.EncodeSigned(StateCodes.DecodeSigned((byte)c)));
            }
        }
        var random = new Random(3);
        for (var i = 0; i < 100_000; i++)
        {
            var f = (float)Math.Pow(10, -7 * random.NextDouble()) * (random.Next(2) == 0 ? -1 : 1);
            var nearest = Enumerable.Range(0, 256).Where(c => c != 128).MinBy(c => Math.Abs(StateCodes.DecodeSigned((byte)c) - f));
            Assert.Equal(Math.Abs(StateCodes.DecodeSigned((byte)nearest) - f), Math.Abs(StateCodes.DecodeSigned(StateCodes.EncodeSigned(f)) - f));
        }
    }

    [Fact]
    public void StochasticRoundingToBf16IsUnbiasedAndKeyedByIndex()
    {
        var value = 1f + 2f / 3f * MathF.Pow(2, -7);
        var key = StateCodes.StepKey(7, 3, 0);
        var mean = Enumerable.Range(0, 200_000).Average(i => (double)StateCodes.FromBFloat16(StateCodes.ToBFloat16Stochastic(value, StateCodes.RandomBits(key, i))));
        // Each draw is 1 or 1 + 2⁻⁷ with p = 2/3: σ of the mean ≈ 2⁻⁷·√(2/9 / 200000) ≈ 8e-6.
        Assert.True(Math.Abs(mean - value) < 4e-5, $"mean of stochastic rounding {mean} vs {value}");
        Assert.Equal(StateCodes.RandomBits(key, 12345), StateCodes.RandomBits(key, 12345));
        Assert.NotEqual(StateCodes.RandomBits(key, 12345), StateCodes.RandomBits(StateCodes.StepKey(7, 4, 0), 12345));
        var lanes = StateCodes.RandomBits8(key, (1L << 32) - 3);
        for (var lane = 0; lane < 8; lane++)
        {
            Assert.Equal(StateCodes.RandomBits(key, (1L << 32) - 3 + lane), lanes.GetElement(lane));
        }
    }

    [Fact]
    public void TheTensorFormOfStochasticRoundingIsTheKernelsBitForBit()
    {
        using var scope = NewDisposeScope();
        var values = randn(10_000).mul_(1e-3f);
        var key = StateCodes.StepKey(42, 9, 2);
        var start = (1L << 32) - 5000;
        var tensor = LowPrecisionState.StochasticBFloat16(values, key, start).to(float32).data<float>().ToArray();
        var host = values.data<float>().ToArray();
        for (var i = 0; i < host.Length; i++)
        {
            var expected = StateCodes.FromBFloat16(StateCodes.ToBFloat16Stochastic(host[i], StateCodes.RandomBits(key, start + i)));
            Assert.True(expected == tensor[i], $"element {i}: tensor form {tensor[i]}, kernel {expected}");
        }
    }

    [Theory]
    [InlineData(OptimizerStateMode.Bf16, UpdateKernel.Fused)]
    [InlineData(OptimizerStateMode.EightBit, UpdateKernel.Fused)]
    [InlineData(OptimizerStateMode.Bf16, UpdateKernel.Reference)]
    [InlineData(OptimizerStateMode.EightBit, UpdateKernel.Reference)]
    public void EachStepMatchesAFloat64ModelOfTheQuantisedUpdate(OptimizerStateMode mode, UpdateKernel kernel)
    {
        using var collective = new SingleProcessCollective();
        using var model = MlpProblem.WideModel();
        using var flat = FlatParameters.FromModule(model, 1, mode.Alignment());
        var options = MlpProblem.Options();
        using var adan = ShardedOptimizers.Create(flat, collective, options, maxGradNorm: 0, kernel: kernel, stateMode: mode, stateSeed: 5);
        var worst = new double[4];
        var worstParam = 0.0;
        for (var step = 1; step <= Steps; step++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = MlpProblem.Batch(step);
            flat.ZeroGrad();
            MlpProblem.Loss(model, x, y).backward();
            flat.GatherGradients();
            var before = AdanRule.Names.Select(n => Doubles(adan.DequantisedState(n))).ToArray();
            var param = Doubles(flat.Values);
            var grad = Doubles(flat.Gradients);
            Assert.True(adan.Step());
            var after = AdanRule.Names.Select(n => Doubles(adan.DequantisedState(n))).ToArray();
            var newParam = Doubles(flat.Values);
            var s = new AdanScalars(options.LearningRate, options.Beta1, options.Beta2, options.Beta3, options.Eps, options.WeightDecay, options.NoProx, step, 1.0);
            foreach (var e in flat.Layout.Entries)
            {
                var small = SmallParameterIndex.IsSmall(e.Numel);
                var exact = new double[4][];
                for (var b = 0; b < 4; b++)
                {
                    exact[b] = new double[e.Numel];
                }
                for (var k = 0; k < e.Numel; k++)
                {
                    var i = e.Offset + k;
                    var g = grad[i];
                    var d = step == 1 ? 0 : g + before[3][i];
                    var m = s.Beta1 * before[0][i] + s.OneMinusBeta1 * g;
                    var diff = s.Beta2 * before[2][i] + s.OneMinusBeta2 * d;
                    var u = g + s.Beta2 * d;
                    var v = s.Beta3 * before[1][i] + s.OneMinusBeta3 * u * u;
                    var denom = Math.Sqrt(v) / s.BiasCorrection3Sqrt + s.Eps;
                    var p = param[i] * (s.NoProx ? s.DecayFactor : 1);
                    p -= (s.StepSize * m + s.StepSizeDiff * diff) / denom;
                    p /= s.NoProx ? 1 : s.DecayFactor;
                    (exact[0][k], exact[1][k], exact[2][k], exact[3][k]) = (m, v, diff, -g);
                    var paramError = Math.Abs(newParam[i] - p);
                    worstParam = Math.Max(worstParam, paramError);
                    Assert.True(paramError <= 1e-6, $"{mode} {kernel} step {step}: {e.Name}[{k}] is {newParam[i]}, the float64 model gives {p}");
                }
                for (var b = 0; b < 4; b++)
                {
                    var got = after[b].AsSpan((int)e.Offset, (int)e.Numel);
                    worst[b] = Math.Max(worst[b], CheckBuffer(mode, kernel, step, e.Name, AdanRule.Names[b], small, got, exact[b]));
                }
            }
        }
        output.WriteLine($"{mode} {kernel}: max |Δparam| {worstParam:E2}; max error in units of the bound: " +
            string.Join(", ", AdanRule.Names.Select((n, b) => $"{n} {worst[b]:F2}")));
    }

    /// <summary>Fixed gradients (a loss linear in the parameters), so both runs feed the small parameters the same ones.</summary>
    [Fact]
    public void SmallParametersKeepFp32StateBitForBit()
    {
        var (fp32Params, fp32State) = Train(OptimizerStateMode.Fp32);
        var (lowParams, lowState) = Train(OptimizerStateMode.EightBit);
        using var model = MlpProblem.WideModel();
        var names = model.named_parameters().Select(p => (p.name, p.parameter.numel())).ToArray();
        foreach (var (name, numel) in names)
        {
            if (SmallParameterIndex.IsSmall(numel))
            {
                Assert.Equal(fp32Params[name], lowParams[name]);
                Assert.Equal(fp32State[name], lowState[name]);
            }
            else
            {
                Assert.NotEqual(fp32State[name], lowState[name]);
            }
        }
        Assert.Contains(names, n => SmallParameterIndex.IsSmall(n.Item2));
        Assert.Contains(names, n => !SmallParameterIndex.IsSmall(n.Item2));
    }

    [Theory]
    [InlineData(OptimizerStateMode.Bf16)]
    [InlineData(OptimizerStateMode.EightBit)]
    public void ShardsStartOnBlockBoundariesAtEveryWorldSizeAndStateBytesAreTheModes(OptimizerStateMode mode)
    {
        using var model = MlpProblem.WideModel();
        var shapes = model.named_parameters().Select(p => (p.name, p.parameter.shape)).ToArray();
        for (var w = 1; w <= 9; w++)
        {
            var layout = FlatLayout.Build(shapes, w, mode.Alignment());
            Assert.Equal(0, layout.ShardSize % StateCodes.BlockSize);
            Assert.All(layout.Entries, e => Assert.Equal(0, e.Offset % StateCodes.BlockSize));
        }
        using var collective = new SingleProcessCollective();
        using var flat = FlatParameters.FromModule(model, 1, mode.Alignment());
        using var adan = ShardedOptimizers.Create(flat, collective, MlpProblem.Options(), stateMode: mode);
        var small = adan.SmallParameters.Total;
        var perElement = mode == OptimizerStateMode.Bf16 ? 8.0 : 3 + 2 + 3 * 4.0 / StateCodes.BlockSize;
        Assert.Equal((long)(perElement * adan.StateLength) + 16 * small, adan.StateBytes);
    }

    [Fact]
    public void LowPrecisionStateNeedsAdanAndABlockAlignedLayout()
    {
        using var collective = new SingleProcessCollective();
        using var model = MlpProblem.WideModel();
        using (var unaligned = FlatParameters.FromModule(model, 1))
        {
            var e = Assert.Throws<ArgumentException>(() => ShardedOptimizers.Create(unaligned, collective, MlpProblem.Options(), stateMode: OptimizerStateMode.Bf16));
            Assert.Contains("aligned to 256 elements", e.Message);
        }
        using var flat = FlatParameters.FromModule(model, 1, 256);
        var lamb = Assert.Throws<ArgumentException>(() => ShardedOptimizers.Create(flat, collective, MlpProblem.Options("lamb"), stateMode: OptimizerStateMode.EightBit));
        Assert.Contains("optimizer_state=8bit is implemented for adan only; lamb keeps fp32 state", lamb.Message);
    }

    private static double CheckBuffer(OptimizerStateMode mode, UpdateKernel kernel, int step, string parameter, string buffer, bool small,
        ReadOnlySpan<double> got, double[] exact)
    {
        var worst = 0.0;
        var absmax = exact.Length == 0 ? 0 : exact.Max(Math.Abs);
        for (var k = 0; k < exact.Length; k++)
        {
            double error, bound;
            if (small)
            {
                // fp32 arithmetic on terms as large as the buffer's largest (β·m and (1 − β)·g cancel).
                (error, bound) = (Math.Abs(got[k] - exact[k]), 1e-6 * (Math.Abs(exact[k]) + absmax) + 1e-30);
            }
            else if (mode == OptimizerStateMode.Bf16 || buffer == "neg_pre_grad")
            {
                var ulps = buffer == "neg_pre_grad" ? Math.Pow(2, -8) : Math.Pow(2, -7);
                (error, bound) = (Math.Abs(got[k] - exact[k]), ulps * Math.Abs(exact[k]) * 1.0001 + 1e-30);
            }
            else
            {
                var blockStart = k / StateCodes.BlockSize * StateCodes.BlockSize;
                var blockMax = exact.Skip(blockStart).Take(StateCodes.BlockSize).Max(Math.Abs);
                (error, bound) = blockMax == 0
                    ? (Math.Abs(got[k]), 0)
                    : (Math.Abs(got[k] - exact[k]), OneCodeAround(exact[k] / blockMax, buffer != "exp_avg_sq") * blockMax * 1.0001 + 1e-30);
            }
            worst = Math.Max(worst, bound > 0 ? error / bound : 0);
            Assert.True(error <= bound,
                $"{mode} {kernel} step {step}: {buffer} of {parameter}[{k}] is {got[k]}, the float64 model gives {exact[k]} (bound {bound:E2}, absmax {absmax:E2})");
        }
        return worst;
    }

    // The distance from a fraction to the farther of the codes one step beyond its two neighbours in the map.
    private static double OneCodeAround(double fraction, bool signed)
    {
        var values = signed
            ? StateCodes.SignedMagnitudes.Select(v => -(double)v).Concat(StateCodes.SignedMagnitudes.Select(v => (double)v)).Distinct().Order().ToArray()
            : StateCodes.UnsignedValues.Select(v => (double)v).ToArray();
        var below = Array.FindLastIndex(values, v => v <= fraction);
        var low = values[Math.Max(below - 1, 0)];
        var high = values[Math.Min(below + 2, values.Length - 1)];
        return Math.Max(fraction - low, high - fraction);
    }

    private static (Dictionary<string, float[]> Params, Dictionary<string, float[]> State) Train(OptimizerStateMode mode)
    {
        using var collective = new SingleProcessCollective();
        using var model = MlpProblem.WideModel();
        using var flat = FlatParameters.FromModule(model, 1, OptimizerStateMode.EightBit.Alignment());
        using var adan = ShardedOptimizers.Create(flat, collective, MlpProblem.Options(), maxGradNorm: 0, stateMode: mode);
        for (var step = 0; step < Steps; step++)
        {
            using var scope = NewDisposeScope();
            flat.ZeroGrad();
            var generator = new Generator((ulong)(100 + step));
            var loss = model.parameters().Select(p => p.mul(randn(p.shape, generator: generator)).sum()).Aggregate((a, b) => a + b);
            loss.backward();
            Assert.True(adan.Step());
        }
        var state = AdanRule.Names.Select(n => adan.DequantisedState(n).data<float>().ToArray()).ToArray();
        return (flat.Layout.Entries.Select((e, i) => (e.Name, flat.Parameters[i].data<float>().ToArray())).ToDictionary(),
            flat.Layout.Entries.ToDictionary(e => e.Name, e => state.SelectMany(b => b.AsSpan((int)e.Offset, (int)e.Numel).ToArray()).ToArray()));
    }

    private static double[] Doubles(Tensor t) => [.. t.data<float>().ToArray().Select(v => (double)v)];
}
