namespace Adan.Worker.Commands.Sweep.Analysis;

/// <summary>
/// The gradient noise scale the sweep's runs measured (each run's B_simple over the whole run, issue 25), summarised
/// for the report and the plots: the median over the runs that measured one, and the range [min, max] over them. A
/// run's B_simple depends on where its trajectory went (it grows as the loss falls), so the runs of one sweep do not
/// agree exactly; the band shows how far apart they are rather than pretending to one number.
/// </summary>
/// <param name="Median">The median of the runs' B_simple.</param>
/// <param name="Min">The smallest.</param>
/// <param name="Max">The largest.</param>
/// <param name="Runs">How many runs measured one.</param>
internal sealed record NoiseScaleBand(double Median, double Min, double Max, int Runs)
{
    /// <summary>The band of the finished runs' finite, positive B_simple; null when none measured one.</summary>
    public static NoiseScaleBand? Of(IEnumerable<RunResult> results)
    {
        var values = results.Where(r => r.Status == RunStatus.Finished && r.NoiseScale is > 0 and < double.PositiveInfinity)
            .Select(r => r.NoiseScale!.Value).Order().ToList();
        if (values.Count == 0)
        {
            return null;
        }
        return new NoiseScaleBand(Statistics.Median(values), values[0], values[^1], values.Count);
    }
}
