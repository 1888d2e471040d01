using System.Globalization;
using Adan.Worker.Commands.Sweep.Analysis;
using ScottPlot;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// <c>steps_to_target.png</c>: steps to the target against batch on log-log axes, per optimizer the median over its
/// reaching seeds with their range as error bars and the fitted S(B) = S_min·(1 + B_crit/B) as a dashed line, and the
/// measured gradient noise scale as a shaded band (its range over the runs) with a line at its median.
/// </summary>
internal static class StepsToTargetPlot
{
    /// <summary>The image's file name.</summary>
    public const string FileName = "steps_to_target.png";

    /// <summary>The image's PNG bytes.</summary>
    public static byte[] Render(SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        var plot = new Plot();
        var noise = NoiseScaleBand.Of(results);
        var batches = settings.Batches.Order().ToArray();
        if (noise is not null)
        {
            NoiseBand(plot, noise);
        }
        var fits = CriticalBatchSection.Fits(settings, results);
        var lowest = double.PositiveInfinity;
        var highest = 0.0;
        foreach (var optimizer in settings.Optimizers)
        {
            var groups = CriticalBatchSection.Points(results, optimizer).GroupBy(p => p.Batch).OrderBy(g => g.Key)
                .Select(g => (Batch: g.Key, Steps: g.Select(p => p.Steps).Order().ToArray())).ToList();
            if (groups.Count == 0)
            {
                continue;
            }
            var xs = groups.Select(g => Math.Log2(g.Batch)).ToArray();
            var medians = groups.Select(g => Math.Log10(Statistics.Median(g.Steps))).ToArray();
            lowest = Math.Min(lowest, groups.Min(g => g.Steps[0]));
            highest = Math.Max(highest, groups.Max(g => g.Steps[^1]));
            var points = plot.Add.Scatter(xs, medians);
            points.LegendText = optimizer;
            points.LineWidth = 0;
            points.MarkerSize = 8;
            if (groups.Any(g => g.Steps.Length > 1))
            {
                var bars = plot.Add.ErrorBar(xs, medians, groups.Select((g, i) => Math.Log10(g.Steps[^1]) - medians[i]).ToArray());
                bars.YErrorNegative = groups.Select((g, i) => medians[i] - Math.Log10(g.Steps[0])).ToArray();
                bars.Color = points.Color;
            }
            if (fits.TryGetValue(optimizer, out var fit))
            {
                var curveX = Enumerable.Range(0, 101).Select(i => Math.Log2(batches[0]) + (Math.Log2(batches[^1]) - Math.Log2(batches[0])) * i / 100).ToArray();
                var curve = plot.Add.Scatter(curveX, curveX.Select(x => Math.Log10(fit.Fit.StepsAt(Math.Pow(2, x)))).ToArray());
                curve.Color = points.Color;
                curve.MarkerSize = 0;
                curve.LinePattern = LinePattern.Dashed;
                curve.LegendText = string.Create(CultureInfo.InvariantCulture, $"{optimizer} fit, B_crit = {fit.Fit.BatchCrit:G3}");
            }
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            batches.Select(b => Math.Log2(b)).ToArray(), batches.Select(b => b.ToString(CultureInfo.InvariantCulture)).ToArray());
        if (highest > 0)
        {
            var decades = Enumerable.Range((int)Math.Floor(Math.Log10(lowest)), (int)Math.Ceiling(Math.Log10(highest)) - (int)Math.Floor(Math.Log10(lowest)) + 1)
                .SelectMany(d => new[] { 1.0, 2.0, 5.0 }.Select(m => m * Math.Pow(10, d))).ToArray();
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                decades.Select(Math.Log10).ToArray(), decades.Select(v => v.ToString("G3", CultureInfo.InvariantCulture)).ToArray());
        }
        plot.XLabel("global batch (log scale)");
        plot.YLabel("steps to target (log scale)");
        plot.Title(settings.Target is { } target ? $"steps to {target} against batch size" : "steps to target against batch size");
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(SweepPlots.MetricWidth, SweepPlots.MetricHeight, ImageFormat.Png);
    }

    /// <summary>Shades the measured noise scale's range and marks its median, on a log2 batch axis.</summary>
    public static void NoiseBand(Plot plot, NoiseScaleBand noise)
    {
        var span = plot.Add.HorizontalSpan(Math.Log2(noise.Min), Math.Log2(Math.Max(noise.Max, noise.Min * 1.02)));
        span.FillStyle.Color = Colors.Gray.WithAlpha(0.2);
        span.LineStyle.Width = 0;
        span.LegendText = "B_noise range (runs)";
        var line = plot.Add.VerticalLine(Math.Log2(noise.Median));
        line.Color = Colors.Gray;
        line.LinePattern = LinePattern.Dotted;
        line.LegendText = string.Create(CultureInfo.InvariantCulture, $"B_noise = {noise.Median:G3}");
    }
}
