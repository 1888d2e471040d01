using System.Globalization;
using ScottPlot;
using SkiaSharp;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// <c>accuracy_vs_batch.png</c> (one line per optimizer over a log2 batch axis, the measured gradient noise scale as a
/// band), <c>loss_curves.png</c> (training loss against samples seen, one panel per batch) and, with a target,
/// <see cref="StepsToTargetPlot"/>, rendered headless by ScottPlot on SkiaSharp.
/// </summary>
internal static class SweepPlots
{
    /// <summary>Size of <c>accuracy_vs_batch.png</c>.</summary>
    public const int MetricWidth = 800;

    /// <summary>Height of <c>accuracy_vs_batch.png</c>.</summary>
    public const int MetricHeight = 500;

    /// <summary>Width of one panel of <c>loss_curves.png</c>.</summary>
    public const int PanelWidth = 500;

    /// <summary>Height of one panel of <c>loss_curves.png</c>.</summary>
    public const int PanelHeight = 360;

    /// <summary>Panels per row of <c>loss_curves.png</c>.</summary>
    public const int PanelColumns = 2;

    /// <summary>The size of <c>loss_curves.png</c> for <paramref name="batches"/> panels.</summary>
    public static (int Width, int Height) CurvesSize(int batches) =>
        (PanelWidth * Math.Min(batches, PanelColumns), PanelHeight * ((batches + PanelColumns - 1) / PanelColumns));

    /// <summary>Writes both images into <paramref name="directory"/>.</summary>
    public static void Write(string directory, SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        File.WriteAllBytes(Path.Combine(directory, "accuracy_vs_batch.png"), MetricVsBatch(settings, results));
        File.WriteAllBytes(Path.Combine(directory, "loss_curves.png"), LossCurves(settings, results));
        if (settings.Target is not null)
        {
            File.WriteAllBytes(Path.Combine(directory, StepsToTargetPlot.FileName), StepsToTargetPlot.Render(settings, results));
        }
    }

    /// <summary>
    /// The metric against log2 of the batch, one line per optimizer through the medians over seeds with error bars for
    /// their range, the axis ticks labelled with the batch itself.
    /// </summary>
    public static byte[] MetricVsBatch(SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        var metric = SweepMetric.For(results);
        var plot = new Plot();
        if (Analysis.NoiseScaleBand.Of(results) is { } noise)
        {
            StepsToTargetPlot.NoiseBand(plot, noise);
        }
        foreach (var optimizer in settings.Optimizers)
        {
            // Several seeds: the median, with the range over seeds as error bars.
            var points = results.Where(r => r.Optimizer == optimizer && metric.Of(r) is not null).GroupBy(r => r.Batch).OrderBy(g => g.Key)
                .Select(g => (X: Math.Log2(g.Key), Values: g.Select(r => metric.Of(r)!.Value).Order().ToArray())).ToList();
            var xs = points.Select(p => p.X).ToArray();
            var medians = points.Select(p => Statistics.Median(p.Values)).ToArray();
            var line = plot.Add.Scatter(xs, medians);
            line.LegendText = optimizer;
            if (points.Any(p => p.Values.Length > 1))
            {
                var bars = plot.Add.ErrorBar(xs, medians, points.Select((p, i) => p.Values[^1] - medians[i]).ToArray());
                bars.YErrorNegative = points.Select((p, i) => medians[i] - p.Values[0]).ToArray();
                bars.Color = line.Color;
            }
        }
        var batches = settings.Batches.Order().ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            batches.Select(b => Math.Log2(b)).ToArray(), batches.Select(b => b.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.XLabel("global batch (log2 scale)");
        plot.YLabel(metric.Unit.Length > 0 ? $"{metric.Name} ({metric.Unit})" : metric.Name);
        plot.Title($"{metric.Name} against batch size");
        // Outside the data area: the lines end low on the right for accuracy and high for loss, where a legend inside would hide them.
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(MetricWidth, MetricHeight, ImageFormat.Png);
    }

    /// <summary>Training loss against samples seen: a panel per batch, a line per optimizer, tiled into one image.</summary>
    public static byte[] LossCurves(SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        var batches = settings.Batches.Order().ToList();
        var (width, height) = CurvesSize(batches.Count);
        using var surface = SKSurface.Create(new SKImageInfo(width, height));
        surface.Canvas.Clear(SKColors.White);
        for (var i = 0; i < batches.Count; i++)
        {
            var plot = new Plot();
            foreach (var optimizer in settings.Optimizers)
            {
                var curve = results.FirstOrDefault(r => r.Batch == batches[i] && r.Optimizer == optimizer)?.Curve ?? [];
                var line = plot.Add.Scatter(curve.Select(p => (double)p.Samples).ToArray(), curve.Select(p => p.Loss).ToArray());
                line.LegendText = optimizer;
                line.MarkerSize = 0;
            }
            plot.XLabel("samples seen");
            plot.YLabel("train loss");
            plot.Title(string.Create(CultureInfo.InvariantCulture, $"batch {batches[i]}"));
            plot.ShowLegend();
            using var panel = SKBitmap.Decode(plot.GetImageBytes(PanelWidth, PanelHeight, ImageFormat.Png));
            surface.Canvas.DrawBitmap(panel, i % PanelColumns * PanelWidth, i / PanelColumns * PanelHeight);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }
}
