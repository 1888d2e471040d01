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

    /// <summary>The run's (or epoch's) estimate: ratio of the step means, interval by the delta method over the window means.</summary>
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
            if (ratio is { } r && _meanY > 0)
            {
                var variance = Math.Max(0, varX - 2 * r * covXY + r * r * varY) / (n * _meanY * _meanY);
                var half = NoiseScaleFormulas.StudentT975(Windows - 1 > int.MaxValue ? int.MaxValue : (int)(Windows - 1)) * Math.Sqrt(variance);
                ci = [r - half, r + half];
            }
        }
        var reason = y <= 0
            ? "|G|² estimate ≤ 0 over the run: the noise dominates; run longer or with a larger batch"
            : x <= 0
                ? "tr Σ estimate ≤ 0 over the run: the small- and big-batch gradients agree within their noise; run longer or with a smaller small batch"
                : null;
        return new NoiseScaleEstimate(smallBatch, bigBatch, finitePopulation, Steps, Windows, x, seX, y, seY, ratio, ci, reason);
    }
}
