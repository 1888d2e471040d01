namespace Adan.Worker.Commands.Sweep.Analysis;

/// <summary>
/// y ∝ x^α by least squares on log y against log x: how the best learning rate grows with the batch (α = 0.5 is
/// square-root scaling, 1 is linear), with α's standard error.
/// </summary>
/// <param name="Exponent">α.</param>
/// <param name="StandardError">α's standard error; null with only two points.</param>
/// <param name="Points">Points fitted.</param>
internal sealed record PowerLawFit(double Exponent, double? StandardError, int Points)
{
    /// <summary>Student's t 0.975 quantiles for 1..30 degrees of freedom; 1.96 beyond.</summary>
    private static readonly double[] s_t975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    /// <summary>
    /// α's 95 % interval, α ± t(0.975, n − 2) × standard error (the slope's t interval under normal residuals); null
    /// with only two points.
    /// </summary>
    public (double Lo, double Hi)? Interval95 =>
        StandardError is { } se ? (Exponent - T975(Points - 2) * se, Exponent + T975(Points - 2) * se) : null;

    private static double T975(int degrees) => degrees <= s_t975.Length ? s_t975[degrees - 1] : 1.96;

    /// <summary>Fits positive (x, y); null with fewer than two distinct x.</summary>
    public static PowerLawFit? Fit(IReadOnlyList<(double X, double Y)> points)
    {
        if (points.Any(p => !(p.X > 0) || !(p.Y > 0)) || points.Select(p => p.X).Distinct().Count() < 2)
        {
            return null;
        }
        var lx = points.Select(p => Math.Log(p.X)).ToArray();
        var ly = points.Select(p => Math.Log(p.Y)).ToArray();
        var mx = lx.Average();
        var my = ly.Average();
        var sxx = lx.Sum(v => (v - mx) * (v - mx));
        var sxy = lx.Zip(ly, (x, y) => (x - mx) * (y - my)).Sum();
        var slope = sxy / sxx;
        double? se = null;
        if (points.Count > 2)
        {
            var residual = lx.Zip(ly, (x, y) => y - my - slope * (x - mx)).Sum(r => r * r);
            se = Math.Sqrt(residual / (points.Count - 2) / sxx);
        }
        return new PowerLawFit(slope, se, points.Count);
    }
}
