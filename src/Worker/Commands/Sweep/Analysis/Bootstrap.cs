namespace Adan.Worker.Commands.Sweep.Analysis;

/// <summary>
/// Percentile bootstrap intervals over seeds, with a fixed generator seed so that the same results always give the
/// same interval (and the same verdict).
/// </summary>
internal static class Bootstrap
{
    /// <summary>Resamples drawn for every interval.</summary>
    public const int Resamples = 1000;

    /// <summary>The generator's seed.</summary>
    public const int Seed = 20261207;

    /// <summary>The 2.5 and 97.5 percentiles of <paramref name="values"/> (which it sorts in place); null when empty.</summary>
    public static (double Lo, double Hi)? Interval95(List<double> values)
    {
        if (values.Count == 0)
        {
            return null;
        }
        values.Sort();
        return (Percentile(values, 0.025), Percentile(values, 0.975));
    }

    /// <summary>
    /// The interval of mean(a) − mean(b), resampling each group's seeds with replacement; null when a group is empty.
    /// </summary>
    public static (double Lo, double Hi)? DifferenceOfMeans(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count == 0 || b.Count == 0)
        {
            return null;
        }
        var random = new Random(Seed);
        var differences = new List<double>(Resamples);
        for (var r = 0; r < Resamples; r++)
        {
            differences.Add(ResampledMean(a, random) - ResampledMean(b, random));
        }
        return Interval95(differences);
    }

    /// <summary>
    /// Values of a statistic over resampled data sets: each resample draws, within every group (a batch size), as many
    /// items as it has, with replacement; the statistic may return null (not computable on that resample), which is
    /// left out.
    /// </summary>
    public static List<double> Statistic<T>(IReadOnlyList<IReadOnlyList<T>> groups, Func<IReadOnlyList<T>, double?> statistic, int seed = Seed)
    {
        var random = new Random(seed);
        var values = new List<double>(Resamples);
        var sample = new List<T>();
        for (var r = 0; r < Resamples; r++)
        {
            sample.Clear();
            foreach (var group in groups)
            {
                for (var i = 0; i < group.Count; i++)
                {
                    sample.Add(group[random.Next(group.Count)]);
                }
            }
            if (statistic(sample) is { } value && double.IsFinite(value))
            {
                values.Add(value);
            }
        }
        return values;
    }

    private static double ResampledMean(IReadOnlyList<double> values, Random random)
    {
        var sum = 0.0;
        for (var i = 0; i < values.Count; i++)
        {
            sum += values[random.Next(values.Count)];
        }
        return sum / values.Count;
    }

    /// <summary>Linear interpolation between order statistics of sorted values.</summary>
    private static double Percentile(List<double> sorted, double q)
    {
        var position = q * (sorted.Count - 1);
        var below = (int)Math.Floor(position);
        var above = Math.Min(below + 1, sorted.Count - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }
}
