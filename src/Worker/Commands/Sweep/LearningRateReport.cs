using System.Globalization;
using System.Text;
using Adan.Worker.Commands.Sweep.Analysis;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The report's learning-rate search section: the chosen learning rate per (batch, optimizer), as the grid's
/// multiplier and the absolute peak, and per optimizer the exponent α of η* ∝ B^α fitted to the chosen peaks, worded:
/// α near 0.5 supports square-root scaling, near 1 linear scaling.
/// </summary>
internal static class LearningRateReport
{
    /// <summary>The section's Markdown; empty without <c>--lr-grid</c>.</summary>
    public static string Markdown(SweepSettings settings, SearchOutcome outcome)
    {
        if (settings.LrGrid is not { } grid)
        {
            return string.Empty;
        }
        var batches = settings.Batches.Order().ToList();
        var builder = new StringBuilder();
        builder.AppendLine("## Chosen learning rate per (batch, optimizer)").AppendLine();
        builder.AppendLine(Invariant($"Grid ×{string.Join(", ×", grid.Select(m => m.ToString("R", CultureInfo.InvariantCulture)))} of each optimizer's rule-scaled lr, ")
            + Invariant($"every point with one seed, then the best {settings.Finalists} per cell with all {settings.Seeds} seed(s); ")
            + "each cell is the finalist with the best median on validation, as ×multiplier (peak lr). The tables above use its runs only.");
        builder.AppendLine();
        builder.Append("| batch |").AppendJoin("", settings.Optimizers.Select(o => $" {o} |")).AppendLine();
        builder.Append("|---:|").AppendJoin("", settings.Optimizers.Select(_ => "---:|")).AppendLine();
        foreach (var batch in batches)
        {
            builder.Append(Invariant($"| {batch} |"));
            foreach (var optimizer in settings.Optimizers)
            {
                builder.Append(' ').Append(Peak(outcome, batch, optimizer) is { } chosen
                    ? Invariant($"×{chosen.Multiplier.ToString("R", CultureInfo.InvariantCulture)} ({chosen.PeakLr:G4})")
                    : "pending").Append(" |");
            }
            builder.AppendLine();
        }
        builder.AppendLine();
        var edges = batches.SelectMany(b => settings.Optimizers.Select(o => (Batch: b, Optimizer: o)))
            .Where(cell => outcome.Chosen.TryGetValue(cell, out var m) && grid.Count > 1 && (m == grid.Min() || m == grid.Max()))
            .Select(cell => Invariant($"{cell.Batch}-{cell.Optimizer} (×{outcome.Chosen[cell].ToString("R", CultureInfo.InvariantCulture)})")).ToList();
        if (edges.Count > 0)
        {
            builder.AppendLine($"At the grid's edge, where the best learning rate may lie beyond it (widen --lr-grid to know): {string.Join(", ", edges)}.");
            builder.AppendLine();
        }
        AppendStageOne(builder, settings, outcome, batches, grid);
        builder.AppendLine("## How the best learning rate grows with the batch").AppendLine();
        foreach (var optimizer in settings.Optimizers)
        {
            var points = batches.Select(b => (Batch: (double)b, Peak(outcome, b, optimizer)?.PeakLr))
                .Where(p => p.PeakLr is not null).Select(p => (p.Batch, p.PeakLr!.Value)).ToList();
            builder.AppendLine($"- {optimizer}: {Words(PowerLawFit.Fit(points))}");
        }
        builder.AppendLine();
        builder.AppendLine(Invariant($"α is the least-squares slope of log η* on log B over the chosen peaks; the grid's steps between multipliers bound how finely it can be read."));
        builder.AppendLine();
        return builder.ToString();
    }

    /// <summary>
    /// α in words: from its 95 % interval when there is one (which of 0.5 and 1 it holds), else the nearer of the two,
    /// with the caveat that two batches give no interval.
    /// </summary>
    public static string Words(PowerLawFit? fit)
    {
        if (fit is null)
        {
            return "α cannot be fitted (fewer than two batches with a chosen learning rate).";
        }
        var alpha = Invariant($"α = {fit.Exponent:F2}");
        if (fit.Interval95 is not { } ci)
        {
            var nearer = Math.Abs(fit.Exponent - 0.5) <= Math.Abs(fit.Exponent - 1) ? "square-root" : "linear";
            return $"{alpha}, nearer {nearer} scaling ({(nearer == "linear" ? "α = 1" : "α = 0.5")}); two batches give no interval, so this is a hint, not a test.";
        }
        var interval = Invariant($"{alpha} (95 % interval [{ci.Lo:F2}, {ci.Hi:F2}], {fit.Points} batches)");
        var holdsSqrt = ci.Lo <= 0.5 && 0.5 <= ci.Hi;
        var holdsLinear = ci.Lo <= 1 && 1 <= ci.Hi;
        return (holdsSqrt, holdsLinear) switch
        {
            (true, false) => $"{interval}: supports square-root scaling, not linear.",
            (false, true) => $"{interval}: supports linear scaling, not square-root.",
            (true, true) => $"{interval}: cannot tell square-root from linear scaling.",
            _ => fit.Exponent < 0.5
                ? $"{interval}: the best lr grows more slowly than square-root scaling."
                : fit.Exponent > 1 ? $"{interval}: the best lr grows faster than linear scaling."
                : $"{interval}: between square-root and linear scaling, neither.",
        };
    }

    /// <summary>
    /// Stage 1's choice metric at every grid point of every cell, the finalists marked: steps to the target in target
    /// mode (where the validation metric of a run stopped at the target says nothing), else the validation metric.
    /// </summary>
    private static void AppendStageOne(StringBuilder builder, SweepSettings settings, SearchOutcome outcome, IReadOnlyList<int> batches,
        IReadOnlyList<double> grid)
    {
        var byAccuracy = outcome.Results.Any(r => r.Status == RunStatus.Finished && r.ValAccuracy is not null);
        var metric = settings.Target is { } target ? $"steps to {target}" : byAccuracy ? "val_accuracy (%)" : "val_loss";
        builder.AppendLine($"### Stage 1: {metric} of the first seed at each multiplier (* finalist)").AppendLine();
        builder.Append("| batch | optimizer |").AppendJoin("", grid.Select(m => Invariant($" ×{m.ToString("R", CultureInfo.InvariantCulture)} |"))).AppendLine();
        builder.Append("|---:|---|").AppendJoin("", grid.Select(_ => "---:|")).AppendLine();
        foreach (var batch in batches)
        {
            foreach (var optimizer in settings.Optimizers)
            {
                var finalists = outcome.Finalists.TryGetValue((batch, optimizer), out var points) ? points : [];
                builder.Append(Invariant($"| {batch} | {optimizer} |"));
                foreach (var multiplier in grid)
                {
                    // Stage 1's run is the point's first seed, the smallest.
                    var run = outcome.Results.Where(r => r.Batch == batch && r.Optimizer == optimizer && r.LrMultiplier == multiplier).MinBy(r => r.Seed);
                    var value = run is null ? "pending"
                        : run.Status != RunStatus.Finished ? run.Status.ToString().ToLowerInvariant()
                        : settings.Target is not null ? (run.TargetReached == true && run.TargetStep is { } steps ? steps.ToString("F0", CultureInfo.InvariantCulture) : "censored")
                        : (byAccuracy ? run.ValAccuracy * 100 : run.ValLoss) is { } v ? v.ToString(byAccuracy ? "F2" : "F4", CultureInfo.InvariantCulture) : "—";
                    builder.Append(' ').Append(value).Append(finalists.Contains(multiplier) ? "*" : "").Append(" |");
                }
                builder.AppendLine();
            }
        }
        builder.AppendLine();
    }

    private static (double Multiplier, double PeakLr)? Peak(SearchOutcome outcome, int batch, string optimizer) =>
        outcome.Chosen.TryGetValue((batch, optimizer), out var multiplier)
        && outcome.Results.FirstOrDefault(r => r.Batch == batch && r.Optimizer == optimizer && r.LrMultiplier == multiplier) is { } run
            ? (multiplier, run.PeakLr)
            : null;

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
