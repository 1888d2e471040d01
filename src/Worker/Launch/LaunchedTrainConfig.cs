using Adan.Worker.Config;
using System.CommandLine;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Launch;

/// <summary>
/// The config of the <c>train ...</c> command <c>adan launch</c> runs, or of the program it runs
/// (<c>--program PATH -- ARGS</c>: the <c>--config</c> and <c>--set</c> among ARGS, as
/// <see cref="TrainingOptions.FromArgs"/> reads them), bound as its ranks will bind it, for what the launcher itself needs
/// of it (the checkpoint directory its coordinator may write, the batch an elastic restart keeps, the run directory).
/// </summary>
internal static class LaunchedTrainConfig
{
    /// <summary>The config, or null when the command is not <c>train</c> or its config does not bind (the ranks report that themselves).</summary>
    /// <param name="command">The adan command and its arguments, or the program's arguments.</param>
    /// <param name="program">Whether <paramref name="command"/> is a program's arguments.</param>
    public static TrainConfig? TryRead(string[] command, bool program = false)
    {
        if (program)
        {
            try
            {
                var (file, overrides) = CommandLineConfig.Parse(command, ignoreOthers: true);
                return ConfigBinder.Load(file is null ? null : Path.GetFullPath(file), overrides);
            }
            catch (ConfigException)
            {
                return null;
            }
        }
        if (command.Length == 0 || command[0] != "train")
        {
            return null;
        }
        var options = new ConfigOptions();
        var train = new Command("train") { TreatUnmatchedTokensAsErrors = false };
        options.AddTo(train);
        try
        {
            return options.Bind(train.Parse(command[1..]));
        }
        catch (ConfigException)
        {
            return null;
        }
    }
}
