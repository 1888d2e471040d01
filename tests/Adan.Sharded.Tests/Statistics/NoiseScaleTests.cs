using Adan.Sharded.Statistics;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Statistics;

/// <summary>
/// The estimator alone, on problems whose tr Σ and |G|² are known: the formulas on exact expectations, a finite
/// population of per-sample gradient vectors sampled without replacement (with and without the finite-population
/// factor), and a Gaussian linear-regression stream where B_simple = 1 + d(1 + σ²/|r|²) in closed form. Seeds are
/// fixed, so every verdict is the same on every run.
/// </summary>
public class NoiseScaleTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(8, 64, null)]
    [InlineData(8, 64, 512L)]
    [InlineData(100, 256, 256L)]
    public void FormulasInvertTheExpectedSquaredNorms(long b, long bigB, long? n)
    {
        const double traceSigma = 37.5, gradSq = 0.8;
        var a = NoiseScaleFormulas.FinitePopulation(b, n) / b;
        var c = NoiseScaleFormulas.FinitePopulation(bigB, n) / bigB;
        var (s, g) = NoiseScaleFormulas.Estimate(gradSq + a * traceSigma, gradSq + c * traceSigma, b, bigB, n);
        Assert.Equal(traceSigma, s, 1e-9);
        Assert.Equal(gradSq, g, 1e-9);
    }

    [Fact]
    public void FinitePopulationFactorMatchesTheIssue()
    {
        Assert.Equal(0.8635, NoiseScaleFormulas.FinitePopulation(8192, 60000), 4);
        Assert.Equal(1.0, NoiseScaleFormulas.FinitePopulation(8192, null));
    }

    [Fact]
    public void RatioOfMeansWithIntervalAndNoIntervalUnderTwoWindows()
    {
        var noise = new GradientNoiseScale(1, 2, stepsPerWindow: 2);
        // ℓ = |G|² + tr Σ, γ = |G|² + tr Σ/2 with f ≡ 1: steps (tr Σ, |G|²) = (2, 1), (6, 1), (4, 3).
        AddExact(noise, 2, 1);
        AddExact(noise, 6, 1);
        var one = noise.Result();
        Assert.Equal(4.0, one.BSimple!.Value, 1e-9);
        Assert.Null(one.BSimpleCi95);
        Assert.Null(one.Reason);
        AddExact(noise, 4, 3);
        AddExact(noise, 4, 3);
        var two = noise.Result();
        Assert.Equal(16.0 / 8.0, two.BSimple!.Value, 1e-9);
        Assert.Equal(2, two.Windows);
        Assert.NotNull(two.BSimpleCi95);
        Assert.True(two.BSimpleCi95![0] < 2 && two.BSimpleCi95[1] > 2);
    }

    [Fact]
    public void IntervalIsFiellersSetOfRatiosFoundByScanning()
    {
        // Windows of one step: (tr Σ, |G|²) per window; the interval must be the set of R where
        // (X̄ − R·Ȳ)² ≤ t²·(s²_X − 2R·s_XY + R²·s²_Y)/n, found here by scanning R instead of solving the quadratic.
        (double X, double Y)[] windows = [(10, 2.0), (14, 2.6), (7, 1.1), (12, 2.4), (9, 1.9), (15, 2.2)];
        var noise = new GradientNoiseScale(1, 2, stepsPerWindow: 1);
        foreach (var (x, y) in windows)
        {
            AddExact(noise, x, y);
        }
        var ci = noise.Result().BSimpleCi95!;
        var n = windows.Length;
        var mx = windows.Average(w => w.X);
        var my = windows.Average(w => w.Y);
        var vx = windows.Sum(w => (w.X - mx) * (w.X - mx)) / (n - 1) / n;
        var vy = windows.Sum(w => (w.Y - my) * (w.Y - my)) / (n - 1) / n;
        var cxy = windows.Sum(w => (w.X - mx) * (w.Y - my)) / (n - 1) / n;
        var t = NoiseScaleFormulas.StudentT975(n - 1);
        bool Inside(double r) => (mx - r * my) * (mx - r * my) <= t * t * (vx - 2 * r * cxy + r * r * vy);
        var inside = Enumerable.Range(0, 200_000).Select(i => i * 1e-4).Where(Inside).ToArray();
        Assert.Equal(inside.First(), ci[0], 3e-4);
        Assert.Equal(inside.Last(), ci[1], 3e-4);
        // Asymmetric about the ratio, unlike the delta method's R ± t·se.
        var r0 = noise.Result().BSimple!.Value;
        Assert.NotEqual(r0 - ci[0], ci[1] - r0, 3);
    }

    [Fact]
    public void IntervalNeverGoesBelowZeroAndIsUnboundedWhenTheGradientIsWithinItsNoise()
    {
        // |G|² windows straddle 0 (mean 0.25 with a spread of about 2): the delta method gave a negative lower end here.
        var noise = new GradientNoiseScale(1, 2, stepsPerWindow: 1);
        foreach (var (x, y) in new (double, double)[] { (10, 2.0), (9, -1.5), (11, 1.8), (10, -1.0), (8, 0.2), (12, 0.0) })
        {
            AddExact(noise, x, y);
        }
        var result = noise.Result();
        Assert.NotNull(result.BSimple);
        Assert.Equal(0, result.BSimpleCi95![0]);
        Assert.Equal(double.PositiveInfinity, result.BSimpleCi95[1]);

        // A well-determined |G|² with a noisy tr Σ straddling 0: the lower end is clamped at 0, the upper is finite.
        var traceNoise = new GradientNoiseScale(1, 2, stepsPerWindow: 1);
        foreach (var (x, y) in new (double, double)[] { (3, 1.0), (-2, 1.01), (4, 0.99), (-3, 1.0), (1, 1.02) })
        {
            AddExact(traceNoise, x, y);
        }
        var clamped = traceNoise.Result();
        Assert.Equal(0, clamped.BSimpleCi95![0]);
        Assert.True(double.IsFinite(clamped.BSimpleCi95[1]) && clamped.BSimpleCi95[1] > clamped.BSimple!.Value);
    }

    [Fact]
    public void NegativeGradientEstimateGivesAReasonNotANumber()
    {
        var noise = new GradientNoiseScale(1, 2);
        AddExact(noise, 5, -0.5);
        var result = noise.Result();
        Assert.Null(result.BSimple);
        Assert.Null(result.BSimpleCi95);
        Assert.StartsWith("|G|² estimate ≤ 0", result.Reason);
        Assert.Equal("no step was measured", new GradientNoiseScale(1, 2).Result().Reason);
    }

    [Fact]
    public void SkippedStepsAreLeftOut()
    {
        var with = new GradientNoiseScale(4, 16, 1024, stepsPerWindow: 3);
        var without = new GradientNoiseScale(4, 16, 1024, stepsPerWindow: 3);
        var random = new Random(25);
        for (var i = 0; i < 40; i++)
        {
            var l = 2 + random.NextDouble();
            var g = 1 + random.NextDouble();
            Assert.True(with.Add(l, g));
            Assert.True(without.Add(l, g));
            if (i % 7 == 3)
            {
                Assert.False(with.Add(double.NaN, g));
                Assert.False(with.Add(l, double.PositiveInfinity));
            }
        }
        Assert.Equal(without.Result(), with.Result(), new EstimateComparer());
        Assert.Equal(40, with.Steps);
        Assert.Equal(without.MovingBSimple, with.MovingBSimple);
    }

    [Fact]
    public void EpochsKeepTheirOwnWindowsAndTheRunSpansThem()
    {
        var noise = new GradientNoiseScale(1, 2, stepsPerWindow: 2);
        AddExact(noise, 2, 1);
        AddExact(noise, 2, 1);
        AddExact(noise, 2, 1);
        var first = noise.EndEpoch();
        AddExact(noise, 8, 1);
        AddExact(noise, 8, 1);
        var second = noise.EndEpoch();
        Assert.Equal(2.0, first.BSimple!.Value, 1e-9);
        Assert.Equal(1, first.Windows);
        Assert.Equal(8.0, second.BSimple!.Value, 1e-9);
        Assert.Equal(2, noise.Epochs.Count);
        var run = noise.Result();
        Assert.Equal(5, run.Steps);
        Assert.Equal(2, run.Windows);
        Assert.Equal(22.0 / 5, run.BSimple!.Value, 1e-9);
    }

    [Fact]
    public void MovingAverageIsDebiased()
    {
        var noise = new GradientNoiseScale(1, 2, movingAverageBeta: 0.9);
        AddExact(noise, 6, 2);
        Assert.Equal(6.0, noise.MovingTraceSigma, 1e-9);
        Assert.Equal(2.0, noise.MovingGradSqNorm, 1e-9);
        Assert.Equal(3.0, noise.MovingBSimple!.Value, 1e-9);
    }

    /// <summary>
    /// N = 512 per-sample gradient vectors (d = 16, a common mean plus noise), each step a fresh permutation's slice of
    /// B split into W parts of b: ℓ the mean of the parts' squared norms, γ the whole slice's. The truth is computed
    /// from all N vectors with divisor N. With the finite-population factor the estimates lie within 4 standard errors
    /// of the truth; without it tr Σ̂ is biased by the predicted factor.
    /// </summary>
    [Theory]
    [InlineData(2, 64)]
    [InlineData(4, 128)]
    [InlineData(2, 256)]
    [InlineData(4, 256)]
    public void FinitePopulationWithoutReplacementIsUnbiased(int ranks, int bigB)
    {
        const int n = 512, d = 16, steps = 2000;
        var random = new Random(1000 + ranks * 7 + bigB);
        var samples = new double[n][];
        var mean = new double[d];
        for (var j = 0; j < d; j++)
        {
            mean[j] = 0.15 * Gaussian(random);
        }
        for (var i = 0; i < n; i++)
        {
            samples[i] = new double[d];
            for (var j = 0; j < d; j++)
            {
                samples[i][j] = mean[j] + (1 + 0.1 * j) * Gaussian(random) + (random.NextDouble() < 0.05 ? 3 : 0);
            }
        }
        var (trueTrace, trueGrad) = Truth(samples);
        var b = bigB / ranks;
        var corrected = new GradientNoiseScale(b, bigB, n, stepsPerWindow: 20);
        var uncorrected = new GradientNoiseScale(b, bigB, null, stepsPerWindow: 20);
        var order = Enumerable.Range(0, n).ToArray();
        for (var step = 0; step < steps; step++)
        {
            random.Shuffle(order);
            var big = new double[d];
            var small = 0.0;
            for (var r = 0; r < ranks; r++)
            {
                var part = MeanOf(samples, order.AsSpan(r * b, b));
                small += SquaredNorm(part) / ranks;
                for (var j = 0; j < d; j++)
                {
                    big[j] += part[j] / ranks;
                }
            }
            corrected.Add(small, SquaredNorm(big));
            uncorrected.Add(small, SquaredNorm(big));
        }
        var est = corrected.Result();
        var raw = uncorrected.Result();
        // Without the factor (a' = 1/b, c' = 1/B) the expectations E ℓ = |G|² + a·tr Σ, E γ = |G|² + c·tr Σ give
        // tr Σ · N/(N − 1) and |G|² − tr Σ/(N − 1): the bias is in |G|², whatever b and B.
        var predictedRawTrace = trueTrace * n / (n - 1);
        var predictedRawGrad = trueGrad - trueTrace / (n - 1);
        output.WriteLine($"W={ranks} b={b} B={bigB}: tr Σ {est.TraceSigma:F4} ± {est.TraceSigmaStandardError:F4} (truth {trueTrace:F4}), "
            + $"|G|² {est.GradSqNorm:F5} ± {est.GradSqNormStandardError:F5} (truth {trueGrad:F5}), B_simple {est.BSimple:F1} "
            + $"[{est.BSimpleCi95?[0]:F1}, {est.BSimpleCi95?[1]:F1}] (truth {trueTrace / trueGrad:F1}); without f: tr Σ {raw.TraceSigma:F4} ± "
            + $"{raw.TraceSigmaStandardError:F4} (predicted {predictedRawTrace:F4}), |G|² {raw.GradSqNorm:F5} ± {raw.GradSqNormStandardError:F5} "
            + $"(predicted {predictedRawGrad:F5}), B_simple {raw.BSimple:F1}");
        WithinFourErrors(trueTrace, est.TraceSigma, est.TraceSigmaStandardError, "tr Σ");
        WithinFourErrors(trueGrad, est.GradSqNorm, est.GradSqNormStandardError, "|G|²");
        WithinFourErrors(predictedRawTrace, raw.TraceSigma, raw.TraceSigmaStandardError, "uncorrected tr Σ");
        WithinFourErrors(predictedRawGrad, raw.GradSqNorm, raw.GradSqNormStandardError, "uncorrected |G|²");
        Assert.True(trueGrad - raw.GradSqNorm!.Value > 4 * raw.GradSqNormStandardError!.Value,
            $"the uncorrected |G|² {raw.GradSqNorm} should be below the truth {trueGrad} by more than 4 standard errors");
    }

    /// <summary>
    /// A stream: x ~ N(0, I_d), y = x·w* + ε with ε ~ N(0, σ²), loss ½(x·w − y)² at w = w* + r. The per-sample
    /// gradient x(x·r − ε) has mean r and covariance (|r|² + σ²)I + r rᵀ, so B_simple = 1 + d(1 + σ²/|r|²).
    /// </summary>
    [Fact]
    public void GaussianLinearRegressionStreamMatchesTheClosedForm()
    {
        const int d = 8, b = 4, bigB = 32, steps = 4000;
        const double sigma = 0.5;
        var random = new Random(2018);
        var residual = new double[d];
        for (var j = 0; j < d; j++)
        {
            residual[j] = 0.5 * Gaussian(random);
        }
        var r2 = SquaredNorm(residual);
        var expected = 1 + d * (1 + sigma * sigma / r2);
        var noise = new GradientNoiseScale(b, bigB, null, stepsPerWindow: 25);
        var x = new double[d];
        for (var step = 0; step < steps; step++)
        {
            var big = new double[d];
            var small = 0.0;
            for (var part = 0; part < bigB / b; part++)
            {
                var g = new double[d];
                for (var s = 0; s < b; s++)
                {
                    var dot = 0.0;
                    for (var j = 0; j < d; j++)
                    {
                        x[j] = Gaussian(random);
                        dot += x[j] * residual[j];
                    }
                    var coefficient = dot - sigma * Gaussian(random);
                    for (var j = 0; j < d; j++)
                    {
                        g[j] += coefficient * x[j] / b;
                    }
                }
                small += SquaredNorm(g) * b / bigB;
                for (var j = 0; j < d; j++)
                {
                    big[j] += g[j] * b / bigB;
                }
            }
            noise.Add(small, SquaredNorm(big));
        }
        var est = noise.Result();
        output.WriteLine($"B_simple {est.BSimple:F2} [{est.BSimpleCi95![0]:F2}, {est.BSimpleCi95[1]:F2}], closed form {expected:F2}; "
            + $"tr Σ {est.TraceSigma:F3} ± {est.TraceSigmaStandardError:F3} (truth {d * (r2 + sigma * sigma) + r2:F3}), |G|² {est.GradSqNorm:F4} ± "
            + $"{est.GradSqNormStandardError:F4} (truth {r2:F4})");
        var halfWidth = (est.BSimpleCi95[1] - est.BSimpleCi95[0]) / 2;
        Assert.InRange(expected, est.BSimple!.Value - 2 * halfWidth, est.BSimple.Value + 2 * halfWidth);
        Assert.InRange(d * (r2 + sigma * sigma) + r2, est.TraceSigma!.Value - 4 * est.TraceSigmaStandardError!.Value,
            est.TraceSigma.Value + 4 * est.TraceSigmaStandardError.Value);
    }

    private static void AddExact(GradientNoiseScale noise, double traceSigma, double gradSq)
    {
        // With f ≡ 1 and (b, B) = (1, 2): E ℓ = |G|² + tr Σ, E γ = |G|² + tr Σ / 2.
        Assert.Equal(1, noise.SmallBatch);
        Assert.True(noise.Add(gradSq + traceSigma, gradSq + traceSigma / 2));
    }

    private static void WithinFourErrors(double truth, double? estimate, double? standardError, string what) =>
        Assert.True(Math.Abs(estimate!.Value - truth) <= 4 * standardError!.Value,
            $"{what} {estimate} is {Math.Abs(estimate.Value - truth) / standardError.Value:F1} standard errors ({standardError}) from {truth}");

    private static (double Trace, double GradSq) Truth(double[][] samples)
    {
        var d = samples[0].Length;
        var mean = MeanOf(samples, Enumerable.Range(0, samples.Length).ToArray());
        var trace = 0.0;
        foreach (var s in samples)
        {
            for (var j = 0; j < d; j++)
            {
                trace += (s[j] - mean[j]) * (s[j] - mean[j]) / samples.Length;
            }
        }
        return (trace, SquaredNorm(mean));
    }

    private static double[] MeanOf(double[][] samples, ReadOnlySpan<int> indices)
    {
        var mean = new double[samples[0].Length];
        foreach (var i in indices)
        {
            for (var j = 0; j < mean.Length; j++)
            {
                mean[j] += samples[i][j] / indices.Length;
            }
        }
        return mean;
    }

    private static double SquaredNorm(double[] v) => v.Sum(x => x * x);

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private sealed class EstimateComparer : IEqualityComparer<NoiseScaleEstimate>
    {
        public bool Equals(NoiseScaleEstimate? x, NoiseScaleEstimate? y) =>
            x!.Steps == y!.Steps && x.BSimple == y.BSimple && x.TraceSigma == y.TraceSigma && x.GradSqNorm == y.GradSqNorm
            && x.BSimpleCi95!.SequenceEqual(y.BSimpleCi95!);

        public int GetHashCode(NoiseScaleEstimate obj) => obj.Steps.GetHashCode();
    }
}
