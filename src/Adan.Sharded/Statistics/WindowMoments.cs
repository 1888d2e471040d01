namespace Adan.Sharded.Statistics;

/// <summary>
/// Running sums over steps and Welford co-moments over complete windows' means of two series (tr Σ̂, |Ĝ|²): what the
/// ratio of means and its batch-means interval need, without keeping the windows.
/// </summary>
internal sealed class WindowMoments
{
    private double _meanX;
    private double _meanY;
    private double _m2X;
    private double _m2Y;
    private double _cXY;

    public long Steps { get; private set; }

    public double SumX { get; private set; }

    public double SumY { get; private set; }

    public long Windows { get; private set; }

    public void AddStep(double x, double y)
    {
        Steps++;
        SumX += x;
        SumY += y;
    }

    public void AddWindow(double x, double y)
    {
        Windows++;
        var dx = x - _meanX;
        var dy = y - _meanY;
        _meanX += dx / Windows;
        _meanY += dy / Windows;
        _m2X += dx * (x - _meanX);
        _m2Y += dy * (y - _meanY);
        _cXY += dx * (y - _meanY);
    }

    /// <summary>The run's (or epoch's) estimate: ratio of the step means, interval by Fieller's method over the window means.</summary>
    public NoiseScaleEstimate Estimate(long smallBatch, long bigBatch, bool finitePopulation)
    {
        if (Steps == 0)
        {
            return new NoiseScaleEstimate(smallBatch, bigBatch, finitePopulation, 0, 0, null, null, null, null, null, null,
                "no step was measured");
        }
        var x = SumX / Steps;
        var y = SumY / Steps;
        double? seX = null, seY = null;
        double[]? ci = null;
        double? ratio = x > 0 && y > 0 ? x / y : null;
        if (Windows >= 2)
        {
            var n = (double)Windows;
            var varX = _m2X / (n - 1);
            var varY = _m2Y / (n - 1);
            var covXY = _cXY / (n - 1);
            seX = Math.Sqrt(varX / n);
            seY = Math.Sqrt(varY / n);
            if (ratio is { } r)
            {
                ci = FiellerInterval(r, varX / n, varY / n, covXY / n,
                    NoiseScaleFormulas.StudentT975(Windows - 1 > int.MaxValue ? int.MaxValue : (int)(Windows - 1)));
            }
        }
        var reason = y <= 0
            ? "|G|² estimate ≤ 0 over the run: the noise dominates; run longer or with a larger batch"
            : x <= 0
                ? "tr Σ estimate ≤ 0 over the run: the small- and big-batch gradients agree within their noise; run longer or with a smaller small batch"
                : null;
        return new NoiseScaleEstimate(smallBatch, bigBatch, finitePopulation, Steps, Windows, x, seX, y, seY, ratio, ci, reason);
    }

    /// <summary>
    /// Fieller's 95 % interval for a ratio of means: the R with (X̄ − R·Ȳ)² ≤ t²·(v_X − 2R·c_XY + R²·v_Y), taken at the
    /// window means (R is the ratio of the step means, the same up to the last partial window). Unlike the delta
    /// method's R ± t·se it is not symmetric and never goes below what the data allow: B_simple ≥ 0, so the lower end is
    /// clamped at 0; when |G|² is not distinguishable from 0 (Ȳ² ≤ t²·v_Y) the set is unbounded above and the upper end
    /// is +∞.
    /// </summary>
    private double[] FiellerInterval(double ratio, double varMeanX, double varMeanY, double covMeans, double t)
    {
        var t2 = t * t;
        var a = _meanY * _meanY - t2 * varMeanY;
        var b = _meanX * _meanY - t2 * covMeans;
        var c = _meanX * _meanX - t2 * varMeanX;
        var discriminant = b * b - a * c;
        if (a <= 0 || discriminant < 0)
        {
            return [0, double.PositiveInfinity];
        }
        var root = Math.Sqrt(discriminant);
        var lo = (b - root) / a;
        var hi = (b + root) / a;
        // The point estimate uses every step, the interval the complete windows: keep the point inside.
        return [Math.Max(0, Math.Min(lo, ratio)), Math.Max(hi, ratio)];
    }
}
