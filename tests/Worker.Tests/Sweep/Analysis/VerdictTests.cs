using Adan.Worker.Commands.Sweep.Analysis;

namespace Adan.Worker.Tests.Sweep.Analysis;

/// <summary>Verdicts are worded from intervals: overlapping ones say "no difference", separated ones name the winner.</summary>
public class VerdictTests
{
    [Theory]
    // drop of a − b; lower is better
    [InlineData(-0.5, -1.2, 0.3, null)]
    [InlineData(-1.0, -1.5, -0.4, "adan")]
    [InlineData(1.0, 0.4, 1.5, "adamw")]
    [InlineData(0.0, 0.0, 0.0, null)]
    public void DifferencesLowerIsBetter(double estimate, double lo, double hi, string? winner)
    {
        var verdict = Verdict.OfDifference("adan", "adamw", "the accuracy drop", estimate, (lo, hi), lowerIsBetter: true, " points");
        Assert.Equal(winner, verdict.Winner);
        Assert.Contains(winner is null ? "no difference" : $"{winner} is better", verdict.Text);
    }

    [Theory]
    [InlineData(0.9, -0.2, 1.6, null)]
    [InlineData(1.0, 0.5, 1.5, "lamb")]
    [InlineData(-1.0, -1.5, -0.5, "adan")]
    public void DifferencesHigherIsBetter(double estimate, double lo, double hi, string? winner)
    {
        var verdict = Verdict.OfDifference("lamb", "adan", "validation accuracy", estimate, (lo, hi), lowerIsBetter: false);
        Assert.Equal(winner, verdict.Winner);
    }

    [Theory]
    [InlineData(1.3, 0.8, 2.1, null)]
    [InlineData(2.0, 1.4, 3.0, "adan")]
    [InlineData(0.5, 0.3, 0.8, "lamb")]
    public void RatiosOfCriticalBatches(double estimate, double lo, double hi, string? winner)
    {
        var verdict = Verdict.OfRatio("adan", "lamb", "B_crit", estimate, (lo, hi), higherIsBetter: true);
        Assert.Equal(winner, verdict.Winner);
        if (winner is not null)
        {
            Assert.Contains("factor of 2", verdict.Text);
        }
    }

    [Fact]
    public void NoIntervalSaysSoInsteadOfAWinner()
    {
        var verdict = Verdict.OfDifference("adan", "adamw", "the drop", 3, null, lowerIsBetter: true);
        Assert.Null(verdict.Winner);
        Assert.Contains("cannot be compared", verdict.Text);
    }

    [Fact]
    public void BootstrapOfSeparatedSeedsExcludesZeroAndOfMixedSeedsIncludesIt()
    {
        var separated = Bootstrap.DifferenceOfMeans([1.0, 1.1, 0.9], [3.0, 3.2, 2.9])!.Value;
        Assert.True(separated.Hi < 0, $"{separated}");
        var mixed = Bootstrap.DifferenceOfMeans([1.0, 3.0, 2.0], [2.5, 1.5, 2.0])!.Value;
        Assert.True(mixed.Lo < 0 && mixed.Hi > 0, $"{mixed}");
        // Fixed generator seed: the same data give the same interval.
        Assert.Equal(mixed, Bootstrap.DifferenceOfMeans([1.0, 3.0, 2.0], [2.5, 1.5, 2.0])!.Value);
        Assert.Null(Bootstrap.DifferenceOfMeans([], [1.0]));
    }
}
