using Adan.Sharded.Training.Config;
using System.CommandLine;

namespace Adan.Worker.Config;

/// <summary>
/// The <c>--config FILE</c> and repeated <c>--set key=value</c> options of a command that trains,
/// and their binding to a validated <see cref="TrainConfig"/>.
/// </summary>
internal sealed class ConfigOptions
{
    /// <summary><c>--config FILE</c>: a JSON object of snake_case keys.</summary>
    public Option<FileInfo?> ConfigFile { get; } = new("--config")
    {
        Description = "JSON config file of snake_case keys (see deploy/configs/; every key: adan config keys).",
    };

    /// <summary><c>--set key=value</c>, repeatable; applied after the file, later ones win.</summary>
    public Option<string[]> Set { get; } = new("--set")
    {
        Description = "Override one config key, e.g. --set epochs=5; an optimizer's settings are keys of its section: --set adan.lr=0.002, "
            + "--set 'adan.betas=[0.98,0.92,0.99]', --set adamw.weight_decay=0.05 (repeatable).",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Adds both options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(ConfigFile);
        command.Options.Add(Set);
    }

    /// <summary>The validated configuration the parsed command line describes.</summary>
    /// <param name="result">The parsed command line.</param>
    /// <param name="overrides">
    /// <c>key=value</c> overrides from the command's own options (such as <c>--telemetry</c>), applied after every
    /// <c>--set</c>.
    /// </param>
    /// <exception cref="ConfigException">The file, a key or a value is invalid.</exception>
    public TrainConfig Bind(ParseResult result, IEnumerable<string>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        return ConfigBinder.Load(result.GetValue(ConfigFile)?.FullName, [.. result.GetValue(Set) ?? [], .. overrides ?? []]);
    }

    /// <summary>The same settings as the trainer library's options (<see cref="TrainingOptions"/>).</summary>
    /// <inheritdoc cref="Bind" path="/param"/>
    /// <exception cref="ConfigException">The file, a key or a value is invalid.</exception>
    public TrainingOptions BindOptions(ParseResult result, IEnumerable<string>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        return TrainingOptions.From(result.GetValue(ConfigFile)?.FullName, [.. result.GetValue(Set) ?? [], .. overrides ?? []]);
    }
}
