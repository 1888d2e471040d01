using Adan.Worker.Commands.Sweep;
using Adan.Worker.Commands.Sweep.Analysis;

namespace Adan.Worker.Tests.Sweep.Analysis;

/// <summary>
/// η* ∝ B^α: the fit recovers the exponent of synthetic chosen learning rates, exactly without noise and inside its
/// 95 % interval with noise, and the report words the interval (square-root, linear, or cannot tell).
/// </summary>
public class PowerLawFitTests
{
    private static readonly double[] Batches = [256, 512, 1024, 2048, 4096, 8192];

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(0.0)]
    public void RecoversTheExponentOfNoiselessData(double alpha)
    {
        var fit = PowerLawFit.Fit([.. Batches.Select(b => (b, 0.003 * Math.Pow(b / 256, alpha)))])!;
        Assert.Equal(alpha, fit.Exponent, 1e-12);
        Assert.Equal(0, fit.StandardError!.Value, 1e-9);
        Assert.Equal(6, fit.Points);
    }

    [Fact]
    public void WithNoiseTheIntervalHoldsTheTrueExponentAndTheWordsFollowIt()
    {
        // ±10 % multiplicative noise, seeded: the sqrt rule's learning rates as a search would find them.
        var random = new Random(7);
        var points = Batches.Select(b => (b, 0.003 * Math.Sqrt(b / 256) * Math.Exp(0.1 * (random.NextDouble() * 2 - 1)))).ToList();
        var fit = PowerLawFit.Fit(points)!;
        var (lo, hi) = fit.Interval95!.Value;
        Assert.True(lo <= 0.5 && 0.5 <= hi, $"α = {fit.Exponent}, interval [{lo}, {hi}]");
        Assert.True(hi < 1, $"the interval [{lo}, {hi}] should exclude linear scaling");
        Assert.Contains("supports square-root scaling, not linear", LearningRateReport.Words(fit));
    }

    [Fact]
    public void TwoBatchesGiveAHintWithoutAnInterval()
    {
        var fit = PowerLawFit.Fit([(256, 0.003), (1024, 0.0115)])!;
        Assert.Null(fit.Interval95);
        Assert.Contains("nearer linear scaling", LearningRateReport.Words(fit));
        Assert.Contains("cannot be fitted", LearningRateReport.Words(PowerLawFit.Fit([(256, 0.003)])));
    }
}
