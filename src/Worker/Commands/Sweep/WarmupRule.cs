using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// How long an optimizer's runs warm up at each batch: <c>--warmup-epochs</c> for every optimizer, or its block's
/// <c>"warmup"</c> in the sweep file: <c>{"rule": "epochs", "epochs": 1}</c>, <c>{"rule": "steps", "steps": 200}</c> or
/// <c>{"rule": "legw", "epochs": 0.25, "base_batch": 256, "min_steps": 50}</c>.
/// </summary>
/// <remarks>
/// LEGW (You et al. 2019, "Large-batch training for LSTM and beyond") lengthens the warm-up, in epochs, linearly with
/// the batch: <c>warmup_epochs(B) = epochs × B / base_batch</c>. Every rule's steps are capped at the run's last step
/// but one, as the trainer caps them, so the recorded warm-up is the one the trainer uses.
/// </remarks>
internal abstract record WarmupRule
{
    /// <summary>The key of an optimizer's block that sets its rule.</summary>
    public const string Key = "warmup";

    /// <summary>The rule names <c>"rule"</c> accepts.</summary>
    public static readonly IReadOnlyList<string> Names = ["epochs", "steps", "legw"];

    /// <summary>Warm-up steps of a run of <paramref name="batch"/>.</summary>
    /// <param name="batch">The run's global batch.</param>
    /// <param name="baseBatch">The config's <c>base_batch</c>, LEGW's reference when its block names none.</param>
    /// <param name="stepsPerEpoch">The run's optimizer steps per epoch.</param>
    /// <param name="totalSteps">The run's optimizer steps.</param>
    public abstract long Steps(int batch, int baseBatch, long stepsPerEpoch, long totalSteps);

    /// <summary>The rule as the report words it, e.g. <c>legw 0.25 epoch(s) at batch 256, ≥ 50 steps</c>.</summary>
    public abstract string Description { get; }

    /// <summary>
    /// Reads an optimizer block's <c>"warmup"</c> value.
    /// </summary>
    /// <param name="node">The value.</param>
    /// <param name="where">The block, as errors name it (<c>sweep.json optimizers.adan</c>).</param>
    /// <exception cref="ConfigException">The value is not one of the rules with its keys; the one-line message names the fix.</exception>
    public static WarmupRule Parse(JsonNode? node, string where)
    {
        const string examples = "{\"rule\": \"epochs\", \"epochs\": 1} | {\"rule\": \"steps\", \"steps\": 200} | {\"rule\": \"legw\", \"epochs\": 0.25, \"base_batch\": 256, \"min_steps\": 50}";
        if (node is not JsonObject block || block["rule"] is not JsonValue ruleValue || !ruleValue.TryGetValue<string>(out var rule))
        {
            throw new ConfigException($"Invalid {Key} in {where}: give an object with a \"rule\", one of {examples}.");
        }
        if (!Names.Contains(rule))
        {
            throw new ConfigException($"Invalid {Key}.rule '{rule}' in {where}: valid rules are {string.Join(" | ", Names)}.");
        }
        string[] keys = rule switch
        {
            "epochs" => ["rule", "epochs"],
            "steps" => ["rule", "steps"],
            _ => ["rule", "epochs", "base_batch", "min_steps"],
        };
        foreach (var (key, _) in block)
        {
            if (!keys.Contains(key))
            {
                throw new ConfigException($"Invalid key '{Key}.{key}' in {where}: the {rule} rule takes {string.Join(", ", keys.Skip(1))}.");
            }
        }
        return rule switch
        {
            "epochs" => new Epochs(Number(block, "epochs", where, required: true)!.Value),
            "steps" => new FixedSteps(Whole(block, "steps", where, minimum: 0, required: true)!.Value),
            _ => new Legw(Number(block, "epochs", where, required: true)!.Value, (int?)Whole(block, "base_batch", where, minimum: 1, required: false),
                Whole(block, "min_steps", where, minimum: 0, required: false) ?? 0),
        };
    }

    private static double? Number(JsonObject block, string key, string where, bool required)
    {
        var node = block[key];
        if (node is null && !required)
        {
            return null;
        }
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.GetValue<double>() is var number
            && double.IsFinite(number) && number >= 0)
        {
            return number;
        }
        throw new ConfigException($"Invalid {Key}.{key} in {where}: {Shown(node)}; give a number ≥ 0 (epochs of warm-up).");
    }

    private static long? Whole(JsonObject block, string key, string where, long minimum, bool required)
    {
        var node = block[key];
        if (node is null && !required)
        {
            return null;
        }
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var whole) && whole >= minimum
            && whole <= int.MaxValue)
        {
            return whole;
        }
        throw new ConfigException($"Invalid {Key}.{key} in {where}: {Shown(node)}; give a whole number ≥ {minimum}.");
    }

    private static string Shown(JsonNode? node) => node is null ? "missing" : node.ToJsonString();

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>A fixed number of epochs at every batch (<c>--warmup-epochs</c>, or <c>"rule": "epochs"</c>).</summary>
    /// <param name="Count">Epochs of warm-up.</param>
    public sealed record Epochs(double Count) : WarmupRule
    {
        /// <inheritdoc />
        public override long Steps(int batch, int baseBatch, long stepsPerEpoch, long totalSteps) =>
            WarmupSchedule.Steps(Count, stepsPerEpoch, totalSteps);

        /// <inheritdoc />
        public override string Description => Invariant($"{Count} epoch(s)");
    }

    /// <summary>The same optimizer steps at every batch (<c>"rule": "steps"</c>).</summary>
    /// <param name="Count">Steps of warm-up.</param>
    public sealed record FixedSteps(long Count) : WarmupRule
    {
        /// <inheritdoc />
        public override long Steps(int batch, int baseBatch, long stepsPerEpoch, long totalSteps) => WarmupSchedule.Capped(Count, totalSteps);

        /// <inheritdoc />
        public override string Description => Invariant($"{Count} step(s)");
    }

    /// <summary>LEGW: <c>EpochsAtBase × B / BaseBatch</c> epochs, at least <c>MinSteps</c> steps (<c>"rule": "legw"</c>).</summary>
    /// <param name="EpochsAtBase">Epochs of warm-up at the base batch.</param>
    /// <param name="BaseBatch">The batch <paramref name="EpochsAtBase"/> is given at; null for the config's <c>base_batch</c>.</param>
    /// <param name="MinSteps">The fewest steps of warm-up at any batch.</param>
    public sealed record Legw(double EpochsAtBase, int? BaseBatch, long MinSteps) : WarmupRule
    {
        /// <inheritdoc />
        public override long Steps(int batch, int baseBatch, long stepsPerEpoch, long totalSteps)
        {
            var epochs = EpochsAtBase * batch / (BaseBatch ?? baseBatch);
            var steps = (long)Math.Round(epochs * stepsPerEpoch, MidpointRounding.AwayFromZero);
            return WarmupSchedule.Capped(Math.Max(steps, MinSteps), totalSteps);
        }

        /// <inheritdoc />
        public override string Description =>
            Invariant($"legw {EpochsAtBase} epoch(s) × B / {(BaseBatch is { } b ? b.ToString(CultureInfo.InvariantCulture) : "base_batch")}")
            + (MinSteps > 0 ? Invariant($", ≥ {MinSteps} steps") : "");
    }
}
