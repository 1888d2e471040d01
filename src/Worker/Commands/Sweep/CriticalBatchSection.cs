using System.Globalization;
using System.Text;
using Adan.Worker.Commands.Sweep.Analysis;
using Adan.Sharded.Training;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The report's section on steps to the target against batch (Shallue et al. 2019; McCandlish et al. 2018): per
/// optimizer the fit S(B) = S_min·(1 + B_crit/B) over every run that reached the target (each seed a point; censored
/// runs cannot enter a fit of the steps they took and are counted instead), S_min and B_crit with 95 % residual-bootstrap
/// intervals, the measured gradient noise scale beside them, and for Adan against each other optimizer a verdict on the
/// ratio of their B_crit worded from its bootstrap interval.
/// </summary>
internal static class CriticalBatchSection
{
    /// <summary>The fits of every optimizer with at least three reaching runs over two batch sizes.</summary>
    public static IReadOnlyDictionary<string, (CriticalBatchFit Fit, IReadOnlyList<double> StepsMin, IReadOnlyList<double> BatchCrit)> Fits(
        SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        var fits = new Dictionary<string, (CriticalBatchFit, IReadOnlyList<double>, IReadOnlyList<double>)>(StringComparer.Ordinal);
        foreach (var optimizer in settings.Optimizers)
        {
            if (CriticalBatchFit.Resampled(Points(results, optimizer)) is { } resampled)
            {
                fits[optimizer] = resampled;
            }
        }
        return fits;
    }

    /// <summary>(B, steps to target) of every finished run of <paramref name="optimizer"/> that reached the target.</summary>
    public static List<(double Batch, double Steps)> Points(IReadOnlyList<RunResult> results, string optimizer) =>
        [.. results.Where(r => r.Optimizer == optimizer && r.Status == RunStatus.Finished && r.TargetReached == true && r.TargetStep is > 0)
            .Select(r => ((double)r.Batch, r.TargetStep!.Value))];

    /// <summary>The section's Markdown.</summary>
    public static string Markdown(SweepSettings settings, IReadOnlyList<RunResult> results, MetricTarget target, NoiseScaleBand? noise)
    {
        var builder = new StringBuilder();
        builder.AppendLine($"## Critical batch size from steps to {target}").AppendLine();
        builder.AppendLine("S(B) = S_min·(1 + B_crit/B) fitted to the steps every reaching run took (least squares in log steps), "
            + "with 95 % intervals from a residual bootstrap (1,000 refits). B_crit is the batch at which twice the fewest steps are needed: "
            + "below it a larger batch saves steps almost in proportion, above it hardly at all.").AppendLine();
        builder.AppendLine(noise is null
            ? "Gradient noise scale: not measured (runs on one rank without accumulation measure none)."
            : Invariant($"Gradient noise scale measured by the runs themselves: B_noise = {noise.Median:G4} (median of {noise.Runs} run(s); range [{noise.Min:G4}, {noise.Max:G4}]). McCandlish et al. predict B_crit ≈ B_noise."));
        builder.AppendLine();
        var fits = Fits(settings, results);
        builder.AppendLine("| optimizer | reaching runs | censored | S_min [95 %] | B_crit [95 %] | B_crit / B_noise |");
        builder.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var optimizer in settings.Optimizers)
        {
            var reached = Points(results, optimizer).Count;
            var censored = results.Count(r => r.Optimizer == optimizer && r.Status == RunStatus.Finished && r.TargetReached == false);
            if (!fits.TryGetValue(optimizer, out var f))
            {
                builder.AppendLine(Invariant($"| {optimizer} | {reached} | {censored} | no fit (needs ≥ 3 reaching runs over ≥ 2 batch sizes) | | |"));
                continue;
            }
            var min = Bootstrap.Interval95([.. f.StepsMin])!.Value;
            var crit = Bootstrap.Interval95([.. f.BatchCrit])!.Value;
            var edge = f.Fit.AtSearchEdge ? " (not bounded by these batches)" : "";
            var ratio = noise is null ? "" : Invariant($"{f.Fit.BatchCrit / noise.Median:G3}");
            builder.AppendLine(Invariant(
                $"| {optimizer} | {reached} | {censored} | {f.Fit.StepsMin:G4} [{min.Lo:G4}, {min.Hi:G4}] | {f.Fit.BatchCrit:G4} [{crit.Lo:G4}, {crit.Hi:G4}]{edge} | {ratio} |"));
        }
        builder.AppendLine();
        const string adan = "adan";
        if (!fits.TryGetValue(adan, out var adanFit))
        {
            return builder.AppendLine(settings.Optimizers.Contains(adan)
                ? "Adan has no fit, so its B_crit cannot be compared."
                : "Adan was not in this sweep, so its B_crit cannot be compared.").ToString();
        }
        builder.AppendLine("Does Adan tolerate larger batches (a larger B_crit)? Each verdict comes from the 95 % bootstrap interval of the ratio of the two B_crit:").AppendLine();
        foreach (var other in settings.Optimizers.Where(o => o != adan))
        {
            if (!fits.TryGetValue(other, out var otherFit))
            {
                builder.AppendLine($"- adan vs {other}: {other} has no fit, so B_crit cannot be compared.");
                continue;
            }
            var interval = CriticalBatchFit.RatioInterval(adanFit.BatchCrit, otherFit.BatchCrit);
            builder.AppendLine("- " + Verdict.OfRatio(adan, other, "critical batch size B_crit", adanFit.Fit.BatchCrit / otherFit.Fit.BatchCrit, interval,
                higherIsBetter: true).Text);
        }
        builder.AppendLine();
        return builder.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
