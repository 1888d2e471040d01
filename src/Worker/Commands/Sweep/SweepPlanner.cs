using System.Globalization;
using Adan.Sharded.Schedules;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Turns the sweep's flags and file into its runs, batch by batch, and checks every run's config as the trainer will
/// bind it, so that a mistake in any section is a usage error before the first run rather than hours into the sweep.
/// </summary>
internal static class SweepPlanner
{
    /// <summary>Points of a loss curve the sweep asks for when the file does not set <c>log_every</c>.</summary>
    public const int CurvePoints = 50;

    private static readonly System.Text.Json.JsonSerializerOptions s_indented = new() { WriteIndented = true };

    /// <summary>The names <c>--optimizers</c> accepts: the trainer's optimizers, as the registry and configs name them.</summary>
    public static IReadOnlyList<string> OptimizerNames => OptimizerRegistry.Names;

    /// <summary>
    /// Plans every (batch, optimizer, learning-rate multiplier, seed) run, in that order, so that every config is checked
    /// before the first run, even those only a learning-rate search's second stage will run.
    /// </summary>
    /// <exception cref="UsageException">A flag's value is unusable; the message names it.</exception>
    /// <exception cref="ConfigException">A run's merged config is refused by the binder.</exception>
    public static IReadOnlyList<PlannedRun> Plan(SweepConfig config, SweepSettings settings)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(settings);
        foreach (var optimizer in settings.Optimizers)
        {
            if (!OptimizerNames.Contains(optimizer))
            {
                throw new UsageException($"--optimizers {optimizer}: unknown optimizer; valid choices are {string.Join(" | ", OptimizerNames)}");
            }
            if (!config.HasSection(optimizer))
            {
                throw new UsageException($"--optimizers {optimizer}: {config.Source} has no section {SweepConfig.OptimizersSection}.{optimizer} (its lr at base_batch, at least)");
            }
        }
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var runs = new List<PlannedRun>();
        foreach (var batch in settings.Batches)
        {
            var decomposition = BatchDecomposition.Of(batch, settings.WorldSize, settings.MaxMicroBatch);
            foreach (var optimizer in settings.Optimizers)
            {
                foreach (var multiplier in settings.Multipliers)
                {
                    for (var k = 0; k < settings.Seeds; k++)
                    {
                        runs.Add(PlanRun(config, settings, batch, optimizer, decomposition, sizes, settings.LrGrid is null ? null : multiplier,
                            settings.Seeds > 1 ? k : null));
                    }
                }
            }
        }
        return runs;
    }

    private static PlannedRun PlanRun(SweepConfig config, SweepSettings settings, int batch, string optimizer, BatchDecomposition decomposition,
        Dictionary<string, long> sizes, double? multiplier, int? seedIndex)
    {
        var merged = config.Merged(optimizer);
        var source = config.SectionName(optimizer);
        var scaling = config.ScalingOf(optimizer) ?? settings.Scaling;
        var overrides = new List<string>
        {
            Set("micro_batch", decomposition.MicroBatch),
            Set("accumulation", decomposition.Accumulation),
            Set("epochs", settings.Epochs),
            $"lr_policy={ConfigBinder.Name(scaling)}",
        };
        var unscaled = ConfigBinder.Bind(merged.ToJsonString(), overrides, source);
        if (multiplier is { } m)
        {
            // The section's lr is what the trainer scales, so scaling it gives exactly the multiplied peak.
            merged[optimizer]!["lr"] = unscaled.OptimizerOptions().LearningRate * m;
        }
        var json = merged.ToJsonString(s_indented);
        var seed = unscaled.Seed;
        if (seedIndex is { } k)
        {
            seed += k;
            overrides.Add(Set("seed", seed));
        }
        if (settings.ValSplit > 0)
        {
            overrides.Add(Set("val_split", settings.ValSplit));
        }
        if (settings.EvalEverySamples > 0)
        {
            overrides.Add(Set("eval_every_samples", settings.EvalEverySamples));
        }
        if (settings.Target is { } target)
        {
            // Target mode (Shallue et al. 2019): warm-up then a constant rate, so steps-to-target does not depend on the cap.
            overrides.Add($"target={target}");
            overrides.Add("schedule=constant");
            overrides.Add($"stop_at_target={(settings.StopAtTarget ? "true" : "false")}");
        }
        var bound = ConfigBinder.Bind(json, overrides, source);

        var dataKey = $"{bound.Dataset}|{bound.DataDir}|{bound.TextFile}|{bound.GptContext}|{bound.TrainSubset}";
        if (!sizes.TryGetValue(dataKey, out var samples))
        {
            samples = sizes[dataKey] = TrainSetSize.Of(bound);
        }
        var stepsPerEpoch = TrainSetSize.StepsPerEpoch(samples, settings.WorldSize, decomposition);
        if (stepsPerEpoch == 0)
        {
            throw new UsageException(
                $"--batch-sizes {batch}: the {samples} training samples give no whole batch of {batch} on -n {settings.WorldSize} ranks");
        }
        var steps = stepsPerEpoch * settings.Epochs;
        var warmup = (config.WarmupOf(optimizer) ?? new WarmupRule.Epochs(settings.WarmupEpochs)).Steps(batch, bound.BaseBatch, stepsPerEpoch, steps);
        overrides.Add(Set("warmup_steps", warmup));
        if (!config.Sets(optimizer, "log_every"))
        {
            overrides.Add(Set("log_every", Math.Max(1, steps / CurvePoints)));
        }
        var peak = new LearningRateSchedule
        {
            BaseLearningRate = bound.OptimizerOptions().LearningRate,
            BaseBatchSize = bound.BaseBatch,
            Scaling = scaling,
            WorldSize = settings.WorldSize,
            MicroBatchSize = decomposition.MicroBatch,
            AccumulationSteps = decomposition.Accumulation,
        }.PeakLearningRate;
        return new PlannedRun(batch, optimizer, settings.WorldSize, decomposition, samples, stepsPerEpoch, steps, warmup, peak, json, overrides)
        {
            Seed = seed,
            SeedIndex = seedIndex,
            LrMultiplier = multiplier,
            Threads = bound.Threads,
        };
    }

    private static string Set(string key, long value) => string.Create(CultureInfo.InvariantCulture, $"{key}={value}");
}
