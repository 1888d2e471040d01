using System.Globalization;
using System.Text;
using Adan.Worker.Commands.Sweep.Analysis;
using Adan.Sharded.Training;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// <c>report.md</c>: the batch × optimizer table of the metric (median and range over seeds), steps to the target
/// when there is one, each optimizer's loss from the smallest to the largest batch, and the answer to "does Adan lose
/// less than the others?": with several seeds worded from bootstrap intervals over them (<see cref="Verdict"/>), with
/// one seed from the single numbers, saying so.
/// </summary>
internal static class SweepReport
{
    /// <summary>
    /// The report of a whole sweep: the tables and verdicts of the chosen learning rates' runs, then the learning-rate
    /// search (with <c>--lr-grid</c>) and every optimizer's effective hyper-parameters.
    /// </summary>
    public static string Markdown(SweepSettings settings, SearchOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var chosen = outcome.ChosenResults;
        return Markdown(settings, chosen).TrimEnd() + "\n\n" + LearningRateReport.Markdown(settings, outcome) + EffectiveSettings.Markdown(settings, chosen);
    }

    /// <summary>The report's tables and verdicts, from the compared runs (every seed of one learning rate per cell).</summary>
    public static string Markdown(SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        var metric = SweepMetric.For(results);
        var batches = settings.Batches.Order().ToList();
        var builder = new StringBuilder();
        builder.AppendLine("# Large-batch sweep").AppendLine();
        builder.AppendLine(Invariant(
            $"{settings.Epochs} epoch(s) per run on {settings.WorldSize} rank(s), learning-rate scaling {Scaling(settings)} from each optimizer's base_batch and warm-up {settings.WarmupEpochs} epoch(s) unless an optimizer's block sets its own."));
        builder.AppendLine();
        var noise = NoiseScaleBand.Of(results);
        builder.AppendLine($"## {Capitalised(metric.Name)}{(metric.Unit.Length > 0 ? $" ({metric.Unit})" : "")}").AppendLine();
        builder.Append(noise is null ? "| batch |" : "| batch | B / B_noise |").AppendJoin("", settings.Optimizers.Select(o => $" {o} |")).AppendLine();
        builder.Append(noise is null ? "|---:|" : "|---:|---:|").AppendJoin("", settings.Optimizers.Select(_ => "---:|")).AppendLine();
        foreach (var batch in batches)
        {
            builder.Append(Invariant($"| {batch} |"));
            if (noise is not null)
            {
                builder.Append(Invariant($" {batch / noise.Median:G3} |"));
            }
            foreach (var optimizer in settings.Optimizers)
            {
                builder.Append(' ').Append(Cell(settings, results, batch, optimizer, metric)).Append(" |");
            }
            builder.AppendLine();
        }
        builder.AppendLine();
        if (settings.Seeds > 1)
        {
            builder.AppendLine(Invariant($"Each cell is the median over {settings.Seeds} seeds with the range [min, max]; a cell missing seeds says how many finished.")).AppendLine();
        }
        if (noise is not null)
        {
            builder.AppendLine(Invariant(
                $"B_noise = {noise.Median:G4}: the median of the gradient noise scale B_simple the runs measured ({noise.Runs} run(s), range [{noise.Min:G4}, {noise.Max:G4}]); well above 1 in B / B_noise a batch is mostly spent averaging away noise that is already small.")).AppendLine();
        }
        if (settings.Target is { } target)
        {
            AppendStepsToTarget(builder, settings, results, batches, target);
            builder.Append(CriticalBatchSection.Markdown(settings, results, target, noise));
        }
        builder.AppendLine(Invariant($"## From batch {batches[0]} to {batches[^1]}")).AppendLine();
        if (settings.Seeds > 1)
        {
            builder.AppendLine(SeedVerdicts(settings, results, batches, metric));
            return builder.ToString();
        }
        var losses = settings.Optimizers.ToDictionary(o => o, o => metric.Decline(Find(results, batches[0], o), Find(results, batches[^1], o)));
        foreach (var optimizer in settings.Optimizers)
        {
            builder.AppendLine(losses[optimizer] is { } loss
                ? $"- {optimizer}: {Change(loss, metric)}"
                : $"- {optimizer}: not known (a run at one end did not finish)");
        }
        builder.AppendLine();
        builder.AppendLine("## Does Adan lose less than the others?").AppendLine();
        builder.AppendLine(Answer(settings, batches, metric, losses));
        return builder.ToString();
    }

    /// <summary>
    /// With several seeds: each optimizer's drops from the smallest to the largest batch, seed by seed, and for Adan
    /// against each other optimizer a verdict worded from the 95 % bootstrap interval of the difference of the mean drops.
    /// </summary>
    public static string SeedVerdicts(SweepSettings settings, IReadOnlyList<RunResult> results, IReadOnlyList<int> batches, SweepMetric metric)
    {
        var drops = settings.Optimizers.ToDictionary(o => o, o => Drops(results, batches, o, metric));
        var builder = new StringBuilder();
        foreach (var optimizer in settings.Optimizers)
        {
            var d = drops[optimizer];
            builder.AppendLine(d.Count == 0
                ? $"- {optimizer}: no seed finished at both ends"
                : Invariant($"- {optimizer}: {metric.Name} {(metric.HigherIsBetter ? "drop (points)" : "rise")} {Statistics.Median(d):G4} [{d.Min():G4}, {d.Max():G4}] over {d.Count} seed(s)"));
        }
        builder.AppendLine();
        const string adan = "adan";
        if (!drops.ContainsKey(adan))
        {
            return builder.Append($"Adan was not in this sweep (optimizers: {string.Join(", ", settings.Optimizers)}), so it cannot say.").ToString();
        }
        builder.AppendLine("Does Adan lose less than the others? Each verdict comes from the 95 % bootstrap interval over seeds of the difference of mean drops:").AppendLine();
        foreach (var other in settings.Optimizers.Where(o => o != adan))
        {
            var (a, b) = (drops[adan], drops[other]);
            var interval = a.Count >= 2 && b.Count >= 2 ? Bootstrap.DifferenceOfMeans(a, b) : null;
            var estimate = a.Count > 0 && b.Count > 0 ? a.Average() - b.Average() : double.NaN;
            builder.AppendLine("- " + Verdict.OfDifference(adan, other, $"how much the {metric.Name} worsens from batch {batches[0]} to {batches[^1]}", estimate,
                interval, lowerIsBetter: true, metric.HigherIsBetter ? " points" : "").Text);
        }
        return builder.ToString();
    }

    /// <summary>How much the metric worsened from the smallest to the largest batch, per seed finished at both ends.</summary>
    private static List<double> Drops(IReadOnlyList<RunResult> results, IReadOnlyList<int> batches, string optimizer, SweepMetric metric)
    {
        var drops = new List<double>();
        foreach (var small in results.Where(r => r.Batch == batches[0] && r.Optimizer == optimizer))
        {
            var large = results.FirstOrDefault(r => r.Batch == batches[^1] && r.Optimizer == optimizer && r.Seed == small.Seed);
            if (metric.Decline(small, large) is { } drop)
            {
                drops.Add(drop);
            }
        }
        return drops;
    }

    private static void AppendStepsToTarget(StringBuilder builder, SweepSettings settings, IReadOnlyList<RunResult> results, IReadOnlyList<int> batches,
        MetricTarget target)
    {
        builder.AppendLine($"## Steps to {target} (median over reaching seeds; censored runs did not reach it)").AppendLine();
        builder.Append("| batch |").AppendJoin("", settings.Optimizers.Select(o => $" {o} |")).AppendLine();
        builder.Append("|---:|").AppendJoin("", settings.Optimizers.Select(_ => "---:|")).AppendLine();
        foreach (var batch in batches)
        {
            builder.Append(Invariant($"| {batch} |"));
            foreach (var optimizer in settings.Optimizers)
            {
                var runs = results.Where(r => r.Batch == batch && r.Optimizer == optimizer && r.Status == RunStatus.Finished && r.TargetReached is not null).ToList();
                var reached = runs.Where(r => r.TargetReached == true).Select(r => r.TargetStep!.Value).ToList();
                var censored = runs.Count - reached.Count;
                var cell = runs.Count == 0 ? "pending"
                    : reached.Count == 0 ? $"censored ({censored})"
                    : Invariant($"{Statistics.Median(reached):F0}") + (reached.Count > 1 ? Invariant($" [{reached.Min():F0}, {reached.Max():F0}]") : "")
                      + (censored > 0 ? $", {censored} censored" : "");
                builder.Append(' ').Append(cell).Append(" |");
            }
            builder.AppendLine();
        }
        builder.AppendLine();
    }

    private static string Cell(SweepSettings settings, IReadOnlyList<RunResult> results, int batch, string optimizer, SweepMetric metric)
    {
        var runs = results.Where(r => r.Batch == batch && r.Optimizer == optimizer).ToList();
        if (runs.Count == 0)
        {
            return "pending";
        }
        var values = runs.Select(metric.Of).OfType<double>().ToList();
        if (settings.Seeds <= 1 || runs.Count == 1)
        {
            return values.Count > 0 ? Format(values[0], metric) : StatusName(runs[0].Status);
        }
        if (values.Count == 0)
        {
            return "none finished";
        }
        var cell = $"{Format(Statistics.Median(values), metric)} [{Format(values.Min(), metric)}, {Format(values.Max(), metric)}]";
        return values.Count < settings.Seeds ? Invariant($"{cell} ({values.Count} of {settings.Seeds})") : cell;
    }

    /// <summary>The one-paragraph answer, from the losses of each optimizer.</summary>
    public static string Answer(SweepSettings settings, IReadOnlyList<int> batches, SweepMetric metric, IReadOnlyDictionary<string, double?> losses)
    {
        const string adan = "adan";
        var others = settings.Optimizers.Where(o => o != adan).ToList();
        if (!losses.ContainsKey(adan))
        {
            return $"Adan was not in this sweep (optimizers: {string.Join(", ", settings.Optimizers)}), so it cannot say.";
        }
        if (others.Count == 0)
        {
            return "Only Adan was swept; there is nothing to compare it with.";
        }
        if (losses[adan] is not { } adanLoss)
        {
            return Invariant($"Adan's runs at batch {batches[0]} and {batches[^1]} did not both finish, so this sweep cannot say yet.");
        }
        var known = others.Where(o => losses[o] is not null).ToList();
        var unknown = others.Except(known).ToList();
        var builder = new StringBuilder(Invariant(
            $"From batch {batches[0]} to {batches[^1]} ({settings.Epochs} epoch(s) each, lr scaling {Scaling(settings)}), adan's {metric.Name} {Change(adanLoss, metric)}"));
        foreach (var other in known)
        {
            builder.Append($"; {other}'s {Change(losses[other]!.Value, metric)}");
        }
        builder.Append(". ");
        var less = known.Where(o => adanLoss < losses[o]!.Value).ToList();
        var notLess = known.Except(less).ToList();
        if (known.Count == 0)
        {
            builder.Append("None of the others has results at both ends, so there is nothing to compare yet.");
        }
        else if (notLess.Count == 0)
        {
            builder.Append($"So yes: Adan loses less than {Join(less)}.");
        }
        else if (less.Count == 0)
        {
            builder.Append($"So no: Adan does not lose less than {Join(notLess)}.");
        }
        else
        {
            builder.Append($"So partly: Adan loses less than {Join(less)}, but not less than {Join(notLess)}.");
        }
        if (unknown.Count > 0)
        {
            builder.Append($" {Join(unknown)} did not finish at both ends and {(unknown.Count == 1 ? "is" : "are")} left out.");
        }
        builder.Append(" Each number is a single run (one seed), so small differences may be noise.");
        return builder.ToString();
    }

    private static RunResult? Find(IEnumerable<RunResult> results, int batch, string optimizer) =>
        results.FirstOrDefault(r => r.Batch == batch && r.Optimizer == optimizer);


    private static string Change(double loss, SweepMetric metric) =>
        metric.HigherIsBetter
            ? loss >= 0 ? Invariant($"drops by {loss:F2} points") : Invariant($"rises by {-loss:F2} points")
            : loss >= 0 ? Invariant($"rises by {loss:F4}") : Invariant($"falls by {-loss:F4}");

    private static string Format(double value, SweepMetric metric) =>
        metric.HigherIsBetter ? Invariant($"{value:F2}") : Invariant($"{value:F4}");

    private static string Scaling(SweepSettings settings) => Adan.Sharded.Training.Config.ConfigBinder.Name(settings.Scaling);

    private static string StatusName(RunStatus status) => status.ToString().ToLowerInvariant();

    private static string Join(IReadOnlyList<string> names) =>
        names.Count == 1 ? names[0] : $"{string.Join(", ", names.Take(names.Count - 1))} and {names[^1]}";

    private static string Capitalised(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
