using Adan.Sharded.Training.Config;

namespace Adan.Sharded.Training;

/// <summary>
/// The two config options of a training command line, <c>--config FILE</c> and <c>--set key=value</c>, read without a
/// command-line library: an application's ranks (<see cref="TrainingOptions.FromArgs"/>) and <c>adan launch</c>, which
/// reads a program's settings to know its run and checkpoint directories, agree on them.
/// </summary>
internal static class CommandLineConfig
{
    /// <summary>The config file (null: none) and the overrides in order.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="ignoreOthers">Skip arguments that are not these two options instead of refusing them.</param>
    /// <exception cref="ConfigException">An option lacks its value, <c>--config</c> is given twice, or (unless ignored) an argument is unknown.</exception>
    public static (string? File, List<string> Overrides) Parse(IReadOnlyList<string> args, bool ignoreOthers = false)
    {
        string? file = null;
        var overrides = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var (name, inline) = arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is var eq and > 0
                ? (arg[..eq], arg[(eq + 1)..])
                : (arg, (string?)null);
            if (name is not ("--config" or "--set"))
            {
                if (ignoreOthers)
                {
                    continue;
                }
                throw new ConfigException($"Unknown argument '{arg}': a training program's options are --config FILE and --set key=value (every key: adan config keys).");
            }
            var value = inline ?? (i + 1 < args.Count ? args[++i] : throw new ConfigException($"{name} needs a value: {name} {(name == "--set" ? "key=value" : "FILE")}."));
            if (name == "--set")
            {
                overrides.Add(value);
            }
            else if (file is not null)
            {
                throw new ConfigException($"--config is given twice ('{file}' and '{value}'); give one file and override its keys with --set key=value.");
            }
            else
            {
                file = value;
            }
        }
        return (file, overrides);
    }
}
