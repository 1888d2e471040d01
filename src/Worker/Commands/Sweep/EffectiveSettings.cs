using System.Globalization;
using System.Text;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The report's table of every optimizer's effective hyper-parameters per compared (batch, optimizer): its peak
/// learning rate, warm-up, schedule, min_lr and its whole optimizer section (betas, eps, weight_decay, max_grad_norm, …),
/// each read from the run's config bound with its <c>--set</c> settings exactly as the trainer binds them, so that any
/// difference between the optimizers' settings is in plain sight.
/// </summary>
internal static class EffectiveSettings
{
    /// <summary>The section's Markdown, one row per (batch, optimizer) of <paramref name="results"/> (its first seed's run).</summary>
    public static string Markdown(SweepSettings settings, IReadOnlyList<RunResult> results)
    {
        var builder = new StringBuilder();
        builder.AppendLine("## Effective hyper-parameters").AppendLine();
        builder.AppendLine("Each row is read from the compared runs' config.json and --set settings, bound as adan train binds them; seeds differ only in seed.");
        builder.AppendLine();
        builder.AppendLine("| optimizer | batch | peak lr | lr_policy | warm-up steps | schedule | min_lr | optimizer section |");
        builder.AppendLine("|---|---:|---:|---|---:|---|---:|---|");
        var sections = new Dictionary<string, Dictionary<string, HashSet<string>>>(StringComparer.Ordinal);
        foreach (var optimizer in settings.Optimizers)
        {
            foreach (var batch in settings.Batches.Order())
            {
                if (results.FirstOrDefault(r => r.Batch == batch && r.Optimizer == optimizer) is not { } run)
                {
                    continue;
                }
                TrainConfig config;
                try
                {
                    config = ConfigBinder.Bind(run.Config, run.Overrides, $"the config of {batch}-{optimizer}");
                }
                catch (ConfigException e)
                {
                    builder.AppendLine(Invariant($"| {optimizer} | {batch} | | | | | | does not bind: {e.Message.ReplaceLineEndings(" ")} |"));
                    continue;
                }
                var section = OptimizerSections.ToJson(config.OptimizerOptions());
                var values = sections.TryGetValue(optimizer, out var known) ? known : sections[optimizer] = new(StringComparer.Ordinal);
                foreach (var (key, value) in section.Where(pair => pair.Key != "lr"))
                {
                    (values.TryGetValue(key, out var set) ? set : values[key] = []).Add(value?.ToJsonString() ?? "null");
                }
                builder.AppendLine(Invariant(
                    $"| {optimizer} | {batch} | {run.PeakLr:G4} | {ConfigBinder.Name(config.LrPolicy)} | {config.WarmupSteps} | {ConfigBinder.Name(config.Schedule)} | {config.MinLr:G4} | ")
                    + string.Join(", ", section.Where(pair => pair.Key != "lr").Select(pair => $"{pair.Key} {pair.Value?.ToJsonString()}")) + " |");
            }
        }
        builder.AppendLine();
        var shared = sections.Values.Select(v => v.Keys).Aggregate((IEnumerable<string>?)null, (all, keys) => all is null ? keys : all.Intersect(keys))?.ToList() ?? [];
        var differing = shared.Where(key => sections.Values.Select(v => string.Join("|", v[key].Order(StringComparer.Ordinal))).Distinct().Count() > 1).ToList();
        if (sections.Count > 1)
        {
            builder.AppendLine(differing.Count == 0
                ? "The optimizers' shared section keys (" + string.Join(", ", shared) + ") have the same values."
                : "Set differently between optimizers: " + string.Join(", ", differing) + ".");
            builder.AppendLine();
        }
        return builder.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
