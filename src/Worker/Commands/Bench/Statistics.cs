namespace Adan.Worker.Commands.Bench;

/// <summary>Summary statistics of timing samples.</summary>
internal static class Statistics
{
    /// <summary>The median; the mean of the two middle values for an even count.</summary>
    public static double Median(IReadOnlyList<double> samples)
    {
        var sorted = samples.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
