using System.Diagnostics.CodeAnalysis;
using System.Globalization;


namespace Adan.Sharded.Training;

/// <summary>
/// A quality a run must reach, <c>target=val_accuracy=0.88</c> or <c>val_loss=0.35</c> (the trainer's <c>target</c>,
/// the sweep's <c>--target</c>): steps-to-target is the first step at which the validation metric is at least as good
/// as <see cref="Value"/>.
/// </summary>
/// <param name="Metric">The validation metric's name: <c>val_accuracy</c> (a fraction, higher is better) or <c>val_loss</c>.</param>
/// <param name="Value">The threshold.</param>
internal sealed record MetricTarget(string Metric, double Value)
{
    /// <summary>The metrics a target may name.</summary>
    public static readonly IReadOnlyList<string> Metrics = ["val_accuracy", "val_loss"];

    /// <summary>Whether larger values of <see cref="Metric"/> are better (accuracy) or smaller (loss).</summary>
    public bool HigherIsBetter => Metric == "val_accuracy";

    /// <summary>Whether <paramref name="value"/> is at least as good as the target.</summary>
    public bool IsReachedBy(double value) => HigherIsBetter ? value >= Value : value <= Value;

    /// <summary>Parses <c>metric=value</c> for the sweep's <c>--target</c>.</summary>
    /// <exception cref="UsageException">Not of that form, an unknown metric, or a value out of range.</exception>
    public static MetricTarget Parse(string text) =>
        TryParse(text, out var target, out var error) ? target : throw new UsageException($"--target {error}");

    /// <summary>Parses <c>metric=value</c>; on failure <paramref name="error"/> says what is wrong and how to write it.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out MetricTarget? target, [NotNullWhen(false)] out string? error)
    {
        target = null;
        var parts = text.Split('=', 2, StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || parts[0].Length == 0)
        {
            error = $"'{text}' is not metric=value; write e.g. val_accuracy=0.88 or val_loss=0.35";
            return false;
        }
        if (!Metrics.Contains(parts[0]))
        {
            error = $"names an unknown metric '{parts[0]}'; use one of: {string.Join(", ", Metrics)}";
            return false;
        }
        if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            error = $"value '{parts[1]}' is not a finite number; write e.g. {parts[0]}=0.88";
            return false;
        }
        if (parts[0] == "val_accuracy" && value is <= 0 or > 1)
        {
            error = $"val_accuracy={parts[1]} is outside (0, 1]; accuracy is a fraction (0.88, not 88)";
            return false;
        }
        if (parts[0] == "val_loss" && value <= 0)
        {
            error = $"val_loss={parts[1]} must be > 0";
            return false;
        }
        target = new MetricTarget(parts[0], value);
        error = null;
        return true;
    }

    public override string ToString() => $"{Metric}={Value.ToString(CultureInfo.InvariantCulture)}";
}
