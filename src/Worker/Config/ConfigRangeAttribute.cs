namespace Adan.Worker.Config;

/// <summary>
/// The closed range <c>[Min, Max]</c> a numeric <see cref="TrainConfig"/> property must lie in;
/// the binder and <see cref="TrainConfig.Validate"/> both read it so parse errors and validation
/// errors state the same range.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ConfigRangeAttribute : Attribute
{
    /// <summary>Creates the range.</summary>
    public ConfigRangeAttribute(double min, double max)
    {
        Min = min;
        Max = max;
    }

    /// <summary>The smallest valid value.</summary>
    public double Min { get; }

    /// <summary>The largest valid value.</summary>
    public double Max { get; }

    /// <summary>Whether <see cref="Min"/> itself is excluded (e.g. a learning rate must be &gt; 0).</summary>
    public bool MinExclusive { get; init; }

    /// <summary>Whether <paramref name="value"/> lies in the range.</summary>
    public bool Contains(double value) =>
        (MinExclusive ? value > Min : value >= Min) && value <= Max;

    /// <summary>The range as a user reads it, e.g. <c>(0, 1]</c> or <c>[1, 2147483647]</c>.</summary>
    public string Describe() =>
        $"{(MinExclusive ? "(" : "[")}{Format(Min)}, {Format(Max)}]";

    private static string Format(double value) =>
        value switch
        {
            int.MaxValue => "2147483647",
            long.MaxValue => "9223372036854775807",
            double.MaxValue => "inf",
            _ => value.ToString("G", System.Globalization.CultureInfo.InvariantCulture),
        };
}
