namespace Adan.Worker.Commands.Sweep.Analysis;

/// <summary>
/// The fit S(B) = S_min·(1 + B_crit/B) of steps-to-target against batch size (McCandlish et al. 2018, eq. 2.11):
/// S_min, the fewest steps any batch can reach the target in, and B_crit, the batch at which twice that many are
/// needed. Least squares on log S (the scatter of steps grows with steps, and a batch range of 32× would otherwise be
/// fitted at its small end only); for a given B_crit the best log S_min is the mean residual, so only B_crit is
/// searched, over a log grid from B_min/1000 to 1000·B_max then refined by golden section.
/// </summary>
/// <param name="StepsMin">S_min.</param>
/// <param name="BatchCrit">B_crit.</param>
/// <param name="AtSearchEdge">Whether B_crit lies at an end of the search range: the data do not bound it (all batches far above or far below it).</param>
/// <param name="RootMeanSquareLogError">The fit's root-mean-square error in log S.</param>
internal sealed record CriticalBatchFit(double StepsMin, double BatchCrit, bool AtSearchEdge, double RootMeanSquareLogError)
{
    /// <summary>Fits the points; null with fewer than two distinct batch sizes.</summary>
    /// <param name="points">(B, S) of every run that reached the target; several per batch (seeds) are fine.</param>
    public static CriticalBatchFit? Fit(IReadOnlyList<(double Batch, double Steps)> points)
    {
        if (points.Select(p => p.Batch).Distinct().Count() < 2 || points.Any(p => !(p.Batch > 0) || !(p.Steps > 0)))
        {
            return null;
        }
        var lo = Math.Log(points.Min(p => p.Batch) / 1000);
        var hi = Math.Log(points.Max(p => p.Batch) * 1000);
        const int Grid = 120;
        var best = lo;
        var bestError = double.PositiveInfinity;
        for (var i = 0; i <= Grid; i++)
        {
            var x = lo + (hi - lo) * i / Grid;
            var error = Error(points, x).Sse;
            if (error < bestError)
            {
                bestError = error;
                best = x;
            }
        }
        // Golden section within one grid cell either side.
        var cell = (hi - lo) / Grid;
        double a = Math.Max(lo, best - cell), b = Math.Min(hi, best + cell);
        var golden = (Math.Sqrt(5) - 1) / 2;
        for (var i = 0; i < 40; i++)
        {
            var c = b - golden * (b - a);
            var d = a + golden * (b - a);
            if (Error(points, c).Sse < Error(points, d).Sse)
            {
                b = d;
            }
            else
            {
                a = c;
            }
        }
        var logCrit = (a + b) / 2;
        var (sse, logStepsMin) = Error(points, logCrit);
        var atEdge = logCrit - lo < 2 * cell || hi - logCrit < 2 * cell;
        return new CriticalBatchFit(Math.Exp(logStepsMin), Math.Exp(logCrit), atEdge, Math.Sqrt(sse / points.Count));
    }

    /// <summary>
    /// 95 % intervals of S_min and B_crit by a residual bootstrap: the fit's log residuals of all runs (every seed at
    /// every batch), inflated by √(n/(n − 2)) for the two fitted parameters, are drawn with replacement onto the fitted
    /// curve and the curve refitted. With a few seeds per batch this pools the seeds' scatter over all batches, where
    /// resampling the seeds within each batch alone would see too little of it (3 seeds give 10 distinct resamples) and
    /// give intervals that are too narrow. Null with fewer than 3 points; fixed generator seed (<see cref="Bootstrap.Seed"/>).
    /// </summary>
    public static (CriticalBatchFit Fit, (double Lo, double Hi) StepsMin, (double Lo, double Hi) BatchCrit)? FitWithIntervals(
        IReadOnlyList<(double Batch, double Steps)> points)
    {
        if (Resampled(points) is not { } resampled)
        {
            return null;
        }
        return (resampled.Fit, Bootstrap.Interval95([.. resampled.StepsMin])!.Value, Bootstrap.Interval95([.. resampled.BatchCrit])!.Value);
    }

    /// <summary>
    /// The fit and its <see cref="Bootstrap.Resamples"/> residual-bootstrap refits (as in <see cref="FitWithIntervals"/>),
    /// resample by resample, so that a statistic of two fits (the ratio of two optimizers' B_crit) can be bootstrapped
    /// from independent draws. Null with fewer than 3 points or nothing to fit.
    /// </summary>
    public static (CriticalBatchFit Fit, IReadOnlyList<double> StepsMin, IReadOnlyList<double> BatchCrit)? Resampled(
        IReadOnlyList<(double Batch, double Steps)> points)
    {
        if (points.Count < 3 || Fit(points) is not { } fit)
        {
            return null;
        }
        var inflation = Math.Sqrt(points.Count / (points.Count - 2.0));
        var residuals = points.Select(p => (Math.Log(p.Steps) - Math.Log(fit.StepsAt(p.Batch))) * inflation).ToArray();
        var random = new Random(Bootstrap.Seed);
        var mins = new List<double>(Bootstrap.Resamples);
        var crits = new List<double>(Bootstrap.Resamples);
        var sample = new (double, double)[points.Count];
        for (var r = 0; r < Bootstrap.Resamples; r++)
        {
            for (var i = 0; i < points.Count; i++)
            {
                sample[i] = (points[i].Batch, fit.StepsAt(points[i].Batch) * Math.Exp(residuals[random.Next(residuals.Length)]));
            }
            if (Fit(sample) is { } refit)
            {
                mins.Add(refit.StepsMin);
                crits.Add(refit.BatchCrit);
            }
        }
        return (fit, mins, crits);
    }

    /// <summary>
    /// The 95 % interval of B_crit(a) / B_crit(b) from two fits' bootstrap refits: the fits are of independent runs, so the
    /// k-th refit of one is paired with a refit of the other drawn at random (fixed generator seed). Null when either
    /// has no refits.
    /// </summary>
    public static (double Lo, double Hi)? RatioInterval(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count == 0 || b.Count == 0)
        {
            return null;
        }
        var random = new Random(Bootstrap.Seed + 1);
        var ratios = new List<double>(a.Count);
        foreach (var x in a)
        {
            ratios.Add(x / b[random.Next(b.Count)]);
        }
        return Bootstrap.Interval95(ratios);
    }

    /// <summary>The predicted steps at batch <paramref name="batch"/>.</summary>
    public double StepsAt(double batch) => StepsMin * (1 + BatchCrit / batch);

    private static (double Sse, double LogStepsMin) Error(IReadOnlyList<(double Batch, double Steps)> points, double logCrit)
    {
        var crit = Math.Exp(logCrit);
        var mean = 0.0;
        foreach (var (batch, steps) in points)
        {
            mean += Math.Log(steps) - Math.Log(1 + crit / batch);
        }
        mean /= points.Count;
        var sse = 0.0;
        foreach (var (batch, steps) in points)
        {
            var r = Math.Log(steps) - mean - Math.Log(1 + crit / batch);
            sse += r * r;
        }
        return (sse, mean);
    }
}
