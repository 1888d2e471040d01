namespace Adan.Sharded.Zero;

/// <summary>Checks shared by the options records' JSON-facing properties.</summary>
internal static class OptionsChecks
{
    /// <summary>Returns <paramref name="value"/> when it holds exactly <paramref name="count"/> betas, else throws naming the expected form.</summary>
    public static double[] Betas(double[]? value, int count, string optimizer, string example) =>
        value is { Length: var n } && n == count
            ? value
            : throw new ArgumentException(
                $"Invalid betas: {optimizer} takes {count} values, e.g. {example}, but got {(value is null ? "none" : value.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))}.",
                "betas");
}
