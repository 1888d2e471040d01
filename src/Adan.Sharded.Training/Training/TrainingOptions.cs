using Adan.Sharded.Training.Config;

namespace Adan.Sharded.Training;

/// <summary>
/// A run's settings: the keys of an <c>adan train</c> config file (<c>adan config keys</c> lists every one with its type,
/// default, range and meaning), from a JSON file and <c>key=value</c> overrides, validated as <c>adan train</c>
/// validates them. Immutable; <see cref="With"/> gives a changed copy.
/// </summary>
/// <remarks>
/// The model and dataset keys (<c>model</c>, <c>dataset</c>, their size keys) choose <c>adan train</c>'s built-in
/// models and are not used by a <see cref="TrainingJob"/>, which trains the application's own. Every other key applies:
/// the optimizer and its section (<c>adan.lr</c>, ...), <c>zero_stage</c>, <c>micro_batch</c>, <c>accumulation</c>,
/// <c>epochs</c>/<c>max_steps</c>, the schedule, <c>checkpoint_every</c>, <c>resume</c>, <c>run_dir</c>, ...
/// <para>
/// Overrides from <c>adan launch</c>: every constructor applies the entries of the <see cref="OverridesVariable"/>
/// environment variable last (one <c>key=value</c> per line). The launcher sets it for a program's ranks
/// (<c>adan launch --program</c>) to resume a restarted job from its last checkpoint (<c>resume=latest</c>) and to keep
/// the global batch on fewer ranks (<c>accumulation=N</c>), as it passes <c>--set</c> to <c>adan train</c>.
/// </para>
/// </remarks>
public sealed class TrainingOptions
{
    /// <summary>The environment variable of overrides applied after all others: one <c>key=value</c> per line.</summary>
    public const string OverridesVariable = "ADAN_SET";

    private readonly string? _file;
    private readonly string[] _overrides;

    private TrainingOptions(string? file, string[] overrides)
    {
        _file = file is null ? null : Path.GetFullPath(file);
        _overrides = overrides;
        Config = ConfigBinder.Load(_file, [.. overrides, .. FromEnvironment()]);
    }

    /// <summary>The bound and validated settings.</summary>
    internal TrainConfig Config { get; }

    /// <summary>Where the run writes <c>metrics.jsonl</c>, <c>summary.json</c> and (unless <c>checkpoint_dir</c> says otherwise) its checkpoints.</summary>
    public string RunDirectory => Path.GetFullPath(Config.RunDir);

    /// <summary>Where checkpoints go.</summary>
    public string CheckpointDirectory => Path.GetFullPath(Config.ResolvedCheckpointDir);

    /// <summary>The seed of the initial weights (torch's generator is seeded with it before the model factory runs) and of the sampler.</summary>
    public long Seed => Config.Seed;

    /// <summary>Samples per micro-batch on each rank.</summary>
    public int MicroBatch => Config.MicroBatch;

    /// <summary>Every key a config file may hold, optimizer sections included.</summary>
    public static IEnumerable<string> Keys => ConfigBinder.Keys;

    /// <summary>The defaults with <paramref name="overrides"/> applied.</summary>
    /// <param name="overrides"><c>key=value</c> entries, e.g. <c>"optimizer=adan"</c>, <c>"adan.lr=0.002"</c>, <c>"max_steps=100"</c>.</param>
    /// <exception cref="ConfigException">A key or value is invalid; the message names it and what is accepted.</exception>
    public static TrainingOptions Create(params IEnumerable<string> overrides) => new(null, [.. overrides]);

    /// <summary>A JSON config file (as <c>adan train --config</c> reads) with <paramref name="overrides"/> applied after it.</summary>
    /// <param name="configFile">A JSON object of snake_case keys.</param>
    /// <param name="overrides"><c>key=value</c> entries applied after the file, later ones winning.</param>
    /// <exception cref="ConfigException">The file is missing or invalid, or a key or value is.</exception>
    public static TrainingOptions Load(string configFile, params IEnumerable<string> overrides)
    {
        ArgumentException.ThrowIfNullOrEmpty(configFile);
        return new(configFile, [.. overrides]);
    }

    /// <summary>
    /// The options of a command line as <c>adan train</c> takes them: <c>--config FILE</c> (at most once) and
    /// <c>--set key=value</c> (repeatable, also <c>--set=key=value</c>). A program started by <c>adan launch --program PATH
    /// -- ARGS</c> passes its ARGS here, so that the launcher and the ranks read the same settings.
    /// </summary>
    /// <param name="args">The arguments; anything else in them is refused.</param>
    /// <exception cref="ConfigException">An argument is not one of these, a value is missing, or the config is invalid.</exception>
    public static TrainingOptions FromArgs(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var (file, overrides) = CommandLineConfig.Parse(args);
        return new(file, [.. overrides]);
    }

    /// <summary>An optional config file with overrides, as <c>adan train</c>'s <c>--config</c> and <c>--set</c> give them.</summary>
    internal static TrainingOptions From(string? configFile, IEnumerable<string> overrides) => new(configFile, [.. overrides]);

    /// <summary>A copy with more overrides applied after this one's.</summary>
    /// <param name="overrides"><c>key=value</c> entries.</param>
    /// <exception cref="ConfigException">A key or value is invalid.</exception>
    public TrainingOptions With(params IEnumerable<string> overrides) => new(_file, [.. _overrides, .. overrides]);

    /// <summary>Every key with its effective value, one per line, as <c>adan train</c> prints them at the start.</summary>
    public string Describe() => Config.Describe();

    /// <summary>The settings as a config file spells them (the run's <c>resolved-config.json</c>).</summary>
    public string ToJson() => ConfigBinder.ToJson(Config);

    /// <inheritdoc />
    public override string ToString() => ToJson();

    /// <summary>The entries of <see cref="OverridesVariable"/>: non-empty lines.</summary>
    internal static IEnumerable<string> FromEnvironment() =>
        (Environment.GetEnvironmentVariable(OverridesVariable) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
