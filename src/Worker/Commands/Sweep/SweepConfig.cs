using System.Text.Json;
using System.Text.Json.Nodes;
using Adan.Sharded.Schedules;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The sweep file: <c>{ "base": { TrainConfig keys }, "optimizers": { "adan": { keys }, "adamw": { keys }, ... } }</c>.
/// An optimizer's block holds its config section's keys (<c>lr</c>, <c>betas</c>, ...) and, where that optimizer's
/// runs need another value, any other config key (<c>min_lr</c>, say): a run's config is the base with the block's
/// section keys as its optimizer's section (<c>"adan": { "lr": 0.002 }</c>) and its other keys over the base's, bound
/// by <see cref="ConfigBinder"/> as <c>adan train</c> binds it, so a bad key or value reads the same here as there.
/// </summary>
/// <remarks>
/// The keys that make one run differ from another (<see cref="SweepKeys"/>) belong to the command line, not the file:
/// a file that set them would silently be overridden or would break the fixed sample budget. Optimizer sections
/// (<c>"adan": { ... }</c>) are refused in the base and in a block: each optimizer's settings have one place, its block.
/// A block may also hold the planner's own keys, which never reach the trainer: <c>"lr_scaling"</c> (sqrt | linear |
/// none, over <c>--lr-scaling</c> for that optimizer) and <c>"warmup"</c> (a <see cref="WarmupRule"/>, over
/// <c>--warmup-epochs</c>).
/// </remarks>
internal sealed class SweepConfig
{
    /// <summary>The section of TrainConfig keys every run shares.</summary>
    public const string BaseSection = "base";

    /// <summary>The object of per-optimizer sections, keyed by optimizer name.</summary>
    public const string OptimizersSection = "optimizers";

    /// <summary>Keys the sweep sets for each run, and the flag that governs each.</summary>
    public static readonly IReadOnlyDictionary<string, string> SweepKeys = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["optimizer"] = "--optimizers",
        ["micro_batch"] = "--batch-sizes and --max-micro-batch",
        ["accumulation"] = "--batch-sizes and --max-micro-batch",
        ["epochs"] = "--epochs",
        ["max_steps"] = "--epochs (every run trains on the same number of samples)",
        ["warmup_steps"] = "--warmup-epochs",
        ["lr_policy"] = "--lr-scaling",
        ["run_dir"] = "--out",
    };

    /// <summary>The key of an optimizer's block that overrides <c>--lr-scaling</c> for its runs.</summary>
    public const string ScalingKey = "lr_scaling";

    /// <summary>The planner's keys of an optimizer's block, and the flag each overrides for that optimizer.</summary>
    public static readonly IReadOnlyDictionary<string, string> PlannerKeys = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [ScalingKey] = "--lr-scaling",
        [WarmupRule.Key] = "--warmup-epochs",
    };

    private static readonly JsonDocumentOptions s_documentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        AllowDuplicateProperties = false,
    };

    private readonly JsonObject _base;
    private readonly Dictionary<string, JsonObject> _optimizers;
    private readonly Dictionary<string, LearningRateScaling> _scaling = new(StringComparer.Ordinal);
    private readonly Dictionary<string, WarmupRule> _warmup = new(StringComparer.Ordinal);

    private SweepConfig(string source, JsonObject baseSection, Dictionary<string, JsonObject> optimizers)
    {
        Source = source;
        _base = baseSection;
        _optimizers = optimizers;
    }

    /// <summary>The file the sweep was read from, as errors name it.</summary>
    public string Source { get; }

    /// <summary>Reads and checks a sweep file: its shape, no sweep-owned keys, and the base section bound alone.</summary>
    /// <exception cref="ConfigException">The file is missing, malformed, or a section or key is invalid.</exception>
    public static SweepConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ConfigException($"Sweep config file '{path}' not found.");
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>As <see cref="Load"/>, from the text of the file.</summary>
    public static SweepConfig Parse(string json, string source)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: s_documentOptions);
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{source} is not valid JSON: {e.Message}");
        }
        if (node is not JsonObject root)
        {
            throw new ConfigException($"{source} must hold a JSON object with \"{BaseSection}\" and \"{OptimizersSection}\".");
        }
        foreach (var (key, _) in root)
        {
            if (key is not (BaseSection or OptimizersSection))
            {
                throw new ConfigException($"Unknown section '{key}' in {source}; valid sections: {BaseSection}, {OptimizersSection}.");
            }
        }
        var baseSection = Section(root[BaseSection], $"{source} {BaseSection}", required: false);
        if (PlannerKeys.Keys.FirstOrDefault(baseSection.ContainsKey) is { } plannerKey)
        {
            throw new ConfigException(
                $"Invalid key '{plannerKey}' in {source} {BaseSection}: set it per optimizer in its block ({OptimizersSection}.<name>.{plannerKey}), or for every optimizer with {PlannerKeys[plannerKey]}.");
        }
        if (root[OptimizersSection] is not JsonObject optimizers)
        {
            throw new ConfigException($"{source} needs an \"{OptimizersSection}\" object with one section per optimizer (e.g. \"adan\": {{ \"lr\": 0.002 }}).");
        }
        var sections = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var (name, value) in optimizers)
        {
            sections[name] = Section(value, $"{source} {OptimizersSection}.{name}", required: true);
        }
        var config = new SweepConfig(source, baseSection, sections);
        foreach (var (name, block) in sections)
        {
            config.TakePlannerKeys(name, block);
        }
        ConfigBinder.Bind(baseSection.ToJsonString(), source: $"{source} {BaseSection}");
        return config;
    }

    /// <summary>The block's <c>lr_scaling</c> of <paramref name="optimizer"/>, or null where <c>--lr-scaling</c> governs it.</summary>
    public LearningRateScaling? ScalingOf(string optimizer) => _scaling.TryGetValue(optimizer, out var scaling) ? scaling : null;

    /// <summary>The block's <c>warmup</c> rule of <paramref name="optimizer"/>, or null where <c>--warmup-epochs</c> governs it.</summary>
    public WarmupRule? WarmupOf(string optimizer) => _warmup.TryGetValue(optimizer, out var rule) ? rule : null;

    /// <summary>Whether the file has a section for <paramref name="optimizer"/> (its config name).</summary>
    public bool HasSection(string optimizer) => _optimizers.ContainsKey(optimizer);

    /// <summary>
    /// The JSON config of one optimizer's runs: the base, the block's section keys as the optimizer's section, its other
    /// keys over the base's, and <c>optimizer</c> set.
    /// </summary>
    public JsonObject Merged(string optimizer)
    {
        var merged = (JsonObject)_base.DeepClone();
        var sectionKeys = OptimizerSections.KeysOf(optimizer);
        var section = new JsonObject();
        foreach (var (key, value) in _optimizers[optimizer])
        {
            if (sectionKeys.Contains(key))
            {
                section[key] = value?.DeepClone();
            }
            else
            {
                merged[key] = value?.DeepClone();
            }
        }
        merged["optimizer"] = optimizer;
        merged[optimizer] = section;
        return merged;
    }

    /// <summary>Whether the merged config of <paramref name="optimizer"/> sets <paramref name="key"/> itself.</summary>
    public bool Sets(string optimizer, string key) => _base.ContainsKey(key) || _optimizers[optimizer].ContainsKey(key);

    /// <summary>Names where an optimizer's section is, for errors about it.</summary>
    public string SectionName(string optimizer) => $"{Source} {OptimizersSection}.{optimizer}";

    /// <summary>Reads the planner's keys out of a block, so that they never reach the run's config.</summary>
    private void TakePlannerKeys(string optimizer, JsonObject block)
    {
        var where = SectionName(optimizer);
        if (block[ScalingKey] is { } scalingNode)
        {
            var names = Enum.GetValues<LearningRateScaling>().ToDictionary(ConfigBinder.Name, s => s, StringComparer.Ordinal);
            if (scalingNode is not JsonValue value || !value.TryGetValue<string>(out var name) || !names.TryGetValue(name, out var scaling))
            {
                throw new ConfigException(
                    $"Invalid {ScalingKey} in {where}: {scalingNode.ToJsonString()}; valid values are {string.Join(" | ", names.Keys.Select(n => $"\"{n}\""))}.");
            }
            _scaling[optimizer] = scaling;
            block.Remove(ScalingKey);
        }
        if (block.ContainsKey(WarmupRule.Key))
        {
            _warmup[optimizer] = WarmupRule.Parse(block[WarmupRule.Key], where);
            block.Remove(WarmupRule.Key);
        }
    }

    private static JsonObject Section(JsonNode? node, string name, bool required)
    {
        if (node is null && !required)
        {
            return [];
        }
        if (node is not JsonObject section)
        {
            throw new ConfigException($"{name} must be a JSON object of snake_case TrainConfig keys.");
        }
        foreach (var (key, _) in section)
        {
            if (SweepKeys.TryGetValue(key, out var flag))
            {
                throw new ConfigException($"Invalid key '{key}' in {name}: the sweep sets it per run (use {flag}).");
            }
            if (OptimizerRegistry.Names.Contains(key))
            {
                throw new ConfigException($"Invalid key '{key}' in {name}: {key}'s settings go in its block, {OptimizersSection}.{key} (e.g. \"{key}\": {{ \"lr\": 0.001 }}).");
            }
        }
        return section;
    }
}
