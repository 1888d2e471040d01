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
