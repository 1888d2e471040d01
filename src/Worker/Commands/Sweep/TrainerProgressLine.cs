using System.Globalization;
using System.Text.RegularExpressions;
using Adan.Worker.Progress;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// A plain progress line of <c>adan train</c> (<see cref="ProgressFormat.Line"/>), read back by the sweep: the trainer's
/// stdout is the sweep's only view into a running job.
/// </summary>
/// <param name="Epoch">The epoch, 1-based.</param>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="TotalSteps">Optimizer steps of the run.</param>
/// <param name="Loss">The training loss shown.</param>
internal readonly partial record struct TrainerProgressLine(int Epoch, long Step, long TotalSteps, double Loss)
{
    /// <summary>Reads <paramref name="line"/>; false for any other line the trainer prints.</summary>
    public static bool TryParse(string line, out TrainerProgressLine progress)
    {
        progress = default;
        var match = Pattern().Match(line);
        if (!match.Success
            || !double.TryParse(match.Groups["loss"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var loss))
        {
            return false;
        }
        progress = new TrainerProgressLine(
            int.Parse(match.Groups["epoch"].Value, CultureInfo.InvariantCulture),
            long.Parse(match.Groups["step"].Value, CultureInfo.InvariantCulture),
            long.Parse(match.Groups["total"].Value, CultureInfo.InvariantCulture),
            loss);
        return true;
    }

    [GeneratedRegex(@"^epoch (?<epoch>\d+) step (?<step>\d+)/(?<total>\d+) loss (?<loss>\S+) ", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
