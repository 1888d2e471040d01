using Adan.Sharded.Zero;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// Σ x² over a span runs four vector accumulators, then single vectors, then scalars: every length around those
/// boundaries must equal the sum taken in double element by element (to 1e-14 relative: only the order differs),
/// and a non-finite element anywhere must give a non-finite sum (the step's skip test depends on it).
/// </summary>
public class SumOfSquaresTests
{
    [Fact]
    public void EveryLengthAroundTheVectorBoundariesEqualsTheElementwiseSum()
    {
        var random = new Random(7);
        for (var length = 0; length <= 100; length++)
        {
            var values = new float[length];
            for (var i = 0; i < length; i++)
            {
                values[i] = (float)(random.NextDouble() * 4 - 2);
            }
            var expected = 0.0;
            foreach (var v in values)
            {
                expected += (double)v * v;
            }
            var actual = SumOfSquares.Of(values);
            Assert.True(Math.Abs(actual - expected) <= 1e-14 * Math.Max(1, expected), $"length {length}: {actual} vs {expected}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    [InlineData(33)]
    [InlineData(70)]
    public void ANonFiniteElementAnywhereGivesANonFiniteSum(int at)
    {
        var values = Enumerable.Repeat(0.5f, 71).ToArray();
        values[at] = float.NaN;
        Assert.False(double.IsFinite(SumOfSquares.Of(values)));
        values[at] = float.PositiveInfinity;
        Assert.False(double.IsFinite(SumOfSquares.Of(values)));
    }

    [Fact]
    public void TheStatisticsSumAgreesWithTheDoubleSumToFloatBlockAccuracyAtEveryLength()
    {
        var random = new Random(11);
        foreach (var length in new[] { 0, 1, 31, 1023, 1024, 1025, 3 * SumOfSquares.StatisticBlock + 77, 1 << 20 })
        {
            var values = new float[length];
            for (var i = 0; i < length; i++)
            {
                // Magnitudes spread over six decades, as gradients are.
                values[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, -3 * random.NextDouble()));
            }
            var expected = SumOfSquares.Of(values);
            var actual = SumOfSquares.OfStatistic(values);
            Assert.True(Math.Abs(actual - expected) <= 1e-5 * expected + 1e-30, $"length {length}: {actual} vs {expected}");
            Assert.Equal(actual, SumOfSquares.OfStatistic(values));
        }
        var poisoned = Enumerable.Repeat(0.5f, 5000).ToArray();
        poisoned[2500] = float.NaN;
        Assert.False(double.IsFinite(SumOfSquares.OfStatistic(poisoned)));
    }
}
