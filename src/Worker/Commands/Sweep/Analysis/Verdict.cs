using System.Globalization;

namespace Adan.Worker.Commands.Sweep.Analysis;

/// <summary>
/// A comparison of two optimizers worded from a 95 % interval: "no difference" when the interval holds the value of
/// no difference (0 for a difference, 1 for a ratio), else which is better and by how much, with the interval. Never
/// decided by comparing two point estimates.
/// </summary>
/// <param name="Winner">The better optimizer, or null for no difference (or nothing to compare).</param>
/// <param name="Text">The sentence for the report.</param>
internal sealed record Verdict(string? Winner, string Text)
{
    /// <summary>
    /// From the interval of <paramref name="a"/>'s value minus <paramref name="b"/>'s (e.g. accuracy points lost from the
    /// smallest to the largest batch).
    /// </summary>
    /// <param name="a">The first optimizer's name.</param>
    /// <param name="b">The second optimizer's name.</param>
    /// <param name="what">What the values are, for the sentence ("the accuracy drop from B = 256 to 8192").</param>
    /// <param name="estimate">The point estimate of the difference a − b.</param>
    /// <param name="interval">Its 95 % interval; null when it cannot be computed.</param>
    /// <param name="lowerIsBetter">Whether the smaller value is the better one (a drop, steps to a target).</param>
    /// <param name="unit">Appended to numbers (" points", " steps"); may be empty.</param>
    public static Verdict OfDifference(string a, string b, string what, double estimate, (double Lo, double Hi)? interval, bool lowerIsBetter,
        string unit = "")
    {
        if (interval is not { } ci)
        {
            return new Verdict(null, $"{a} vs {b}: {what} cannot be compared (too few finished runs for an interval).");
        }
        var range = $"95 % interval of {a} − {b}: [{Format(ci.Lo)}, {Format(ci.Hi)}]{unit}";
        if (ci.Lo <= 0 && 0 <= ci.Hi)
        {
            return new Verdict(null, $"{a} vs {b}: no difference in {what} ({range} contains 0).");
        }
        var aBetter = lowerIsBetter ? ci.Hi < 0 : ci.Lo > 0;
        var (winner, loser) = aBetter ? (a, b) : (b, a);
        return new Verdict(winner, $"{winner} is better than {loser} in {what} by {Format(Math.Abs(estimate))}{unit} ({range}).");
    }

    /// <summary>
    /// From the interval of <paramref name="a"/>'s value divided by <paramref name="b"/>'s (e.g. B_crit: larger is better,
    /// the batch can grow further before steps stop falling).
    /// </summary>
    public static Verdict OfRatio(string a, string b, string what, double estimate, (double Lo, double Hi)? interval, bool higherIsBetter)
    {
        if (interval is not { } ci)
        {
            return new Verdict(null, $"{a} vs {b}: {what} cannot be compared (too few finished runs for an interval).");
        }
        var range = $"95 % interval of {a} / {b}: [{Format(ci.Lo)}, {Format(ci.Hi)}]";
        if (ci.Lo <= 1 && 1 <= ci.Hi)
        {
            return new Verdict(null, $"{a} vs {b}: no difference in {what} ({range} contains 1).");
        }
        var aBetter = higherIsBetter ? ci.Lo > 1 : ci.Hi < 1;
        var (winner, loser) = aBetter ? (a, b) : (b, a);
        var factor = Math.Max(estimate, 1 / estimate);
        return new Verdict(winner, $"{winner} is better than {loser} in {what}, by a factor of {Format(factor)} ({range}).");
    }

    private static string Format(double value) => value.ToString("G3", CultureInfo.InvariantCulture);
}
