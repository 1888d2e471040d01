namespace Adan.Sharded.Tests.Optim;

/// <summary>Element-wise comparisons that report the worst element, for parity tests.</summary>
internal static class Tolerance
{
    /// <summary>
    /// Asserts |actual − expected| ≤ atol + rtol·|expected| element-wise; on failure the message
    /// names <paramref name="what"/>, the first failing index and the largest difference.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what)
    {
        Assert.True(actual.Length == expected.Length, $"{what}: {actual.Length} elements, expected {expected.Length}");
        var maxDiff = 0.0;
        var firstBad = -1;
        for (var i = 0; i < actual.Length; i++)
        {
            var diff = Math.Abs((double)actual[i] - expected[i]);
            maxDiff = Math.Max(maxDiff, double.IsNaN(diff) ? double.PositiveInfinity : diff);
            if (firstBad < 0 && !(diff <= atol + rtol * Math.Abs(expected[i])))
            {
                firstBad = i;
            }
        }
        if (firstBad >= 0)
        {
            Assert.Fail($"{what}: index {firstBad}: got {actual[firstBad]:R}, expected {expected[firstBad]:R}; " +
                $"max |a - ref| = {maxDiff:E3} (tolerance {atol:E0} + {rtol:E0}·|ref|)");
        }
    }

    /// <summary>The golden README's state tolerance: |a − ref| ≤ 1e-4·max|ref| + 1e-4·|ref|.</summary>
    public static void AssertStateClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what)
    {
        var maxAbs = 0.0;
        foreach (var value in expected)
        {
            maxAbs = Math.Max(maxAbs, Math.Abs(value));
        }
        AssertClose(actual, expected, 1e-4 * maxAbs, 1e-4, what);
    }
}
