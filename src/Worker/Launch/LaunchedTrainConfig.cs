using Adan.Worker.Config;
using System.CommandLine;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Launch;

/// <summary>
/// The config of the <c>train ...</c> command <c>adan launch</c> runs, bound as its ranks will bind it, for what the
/// launcher itself needs of it (the checkpoint directory its coordinator may write, the batch an elastic restart keeps).
/// </summary>
internal static class LaunchedTrainConfig
{
    /// <summary>The config, or null when the command is not <c>train</c> or its config does not bind (the ranks report that themselves).</summary>
    public static TrainConfig? TryRead(string[] command)
    {
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
