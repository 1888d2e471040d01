using System.Globalization;
using System.Text;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// <c>report.md</c>: the batch × optimizer table of the metric, each optimizer's loss from the smallest to the largest
/// batch, and the answer to "does Adan lose less than the others?" worded from those numbers.
/// </summary>
internal static class SweepReport
{
    /// <summary>The report's Markdown.</summary>
    public static string Markdown(SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        var metric = SweepMetric.For(results);
        var batches = settings.Batches.Order().ToList();
        var builder = new StringBuilder();
        builder.AppendLine("# Large-batch sweep").AppendLine();
        builder.AppendLine(Invariant(
            $"{settings.Epochs} epoch(s) per run on {settings.WorldSize} rank(s), learning-rate scaling {Scaling(settings)} from each optimizer's base_batch, warm-up {settings.WarmupEpochs} epoch(s)."));
        builder.AppendLine();
        builder.AppendLine($"## {Capitalised(metric.Name)}{(metric.Unit.Length > 0 ? $" ({metric.Unit})" : "")}").AppendLine();
        builder.Append("| batch |").AppendJoin("", settings.Optimizers.Select(o => $" {o} |")).AppendLine();
        builder.Append("|---:|").AppendJoin("", settings.Optimizers.Select(_ => "---:|")).AppendLine();
        foreach (var batch in batches)
        {
            builder.Append(Invariant($"| {batch} |"));
            foreach (var optimizer in settings.Optimizers)
            {
                var result = Find(results, batch, optimizer);
                builder.Append(' ').Append(result is null ? "pending" : metric.Of(result) is { } value ? Format(value, metric) : StatusName(result.Status)).Append(" |");
            }
            builder.AppendLine();
        }
        builder.AppendLine();
        builder.AppendLine(Invariant($"## From batch {batches[0]} to {batches[^1]}")).AppendLine();
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

    private static string Scaling(SweepSettings settings) => Adan.Worker.Config.ConfigBinder.Name(settings.Scaling);

    private static string StatusName(RunStatus status) => status.ToString().ToLowerInvariant();

    private static string Join(IReadOnlyList<string> names) =>
        names.Count == 1 ? names[0] : $"{string.Join(", ", names.Take(names.Count - 1))} and {names[^1]}";

    private static string Capitalised(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
