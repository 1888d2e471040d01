namespace Adan.Sharded.Statistics;

/// <summary>
/// Accumulates the gradient noise scale B_simple = tr Σ / |G|² of a run from each step's small- and big-batch squared
/// gradient norms (<see cref="NoiseScaleFormulas"/>), for the whole run and per epoch, with a debiased moving average
/// for a live display.
/// </summary>
/// <remarks>
/// Each step gives unbiased but very noisy estimates of tr Σ and |G|², and their ratio is biased (the mean of ratios
/// is not the ratio of means), so B_simple is the ratio of the two means over the steps. Its 95 % interval comes from
/// batch means: consecutive steps are grouped into windows of <see cref="StepsPerWindow"/> (windows never cross an
/// epoch), and Fieller's method on the n complete windows' means gives the R with
/// (X̄ − R·Ȳ)² ≤ t²·(s²_X − 2R·s_XY + R²·s²_Y)/n, with Student's t quantile for n − 1 degrees of freedom: unlike the
/// delta method's symmetric R ± t·se it stays at or above 0 and is unbounded above when |G|² is not distinguishable
/// from 0. A skipped (non-finite) step is simply not added.
/// </remarks>
public sealed class GradientNoiseScale
{
    private readonly WindowMoments _run = new();
    private readonly List<NoiseScaleEstimate> _epochs = new();
    private WindowMoments _epoch = new();
    private double _windowX;
    private double _windowY;
    private int _windowSteps;
    private double _emaX;
    private double _emaY;
    private double _emaDecay = 1.0;

    /// <summary>Creates the accumulator for one pair of batch sizes.</summary>
    /// <param name="smallBatch">b, samples in a small batch (with W ≥ 2 ranks: micro-batch × accumulation per rank; with one rank: the micro-batch).</param>
    /// <param name="bigBatch">B, samples in the big batch (the global batch of a step), B &gt; b.</param>
    /// <param name="populationSize">N, the training-set size when batches are drawn without replacement from it; null for a stream.</param>
    /// <param name="stepsPerWindow">Steps per window of the batch-means interval.</param>
    /// <param name="movingAverageBeta">β of the moving average of <see cref="MovingTraceSigma"/> and <see cref="MovingGradSqNorm"/>.</param>
    public GradientNoiseScale(long smallBatch, long bigBatch, long? populationSize = null, int stepsPerWindow = 10, double movingAverageBeta = 0.99)
    {
        if (smallBatch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(smallBatch), smallBatch, $"Invalid small batch: {smallBatch}; it must be ≥ 1.");
        }
        if (bigBatch <= smallBatch)
        {
            throw new ArgumentOutOfRangeException(nameof(bigBatch), bigBatch, $"Invalid big batch: {bigBatch}; it must be larger than the small batch {smallBatch}.");
        }
        if (populationSize is { } n && n < bigBatch)
        {
            throw new ArgumentOutOfRangeException(nameof(populationSize), n, $"Invalid population size: {n}; it must be ≥ the big batch {bigBatch}.");
        }
        if (stepsPerWindow < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(stepsPerWindow), stepsPerWindow, $"Invalid steps per window: {stepsPerWindow}; it must be ≥ 1.");
        }
        if (!(movingAverageBeta is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(movingAverageBeta), movingAverageBeta, $"Invalid beta: {movingAverageBeta}; it must be in [0, 1).");
        }
        SmallBatch = smallBatch;
        BigBatch = bigBatch;
        PopulationSize = populationSize;
        StepsPerWindow = stepsPerWindow;
        MovingAverageBeta = movingAverageBeta;
    }

    /// <summary>b, samples in a small batch.</summary>
    public long SmallBatch { get; }

    /// <summary>B, samples in the big batch.</summary>
    public long BigBatch { get; }

    /// <summary>N, or null for a stream (no finite-population factor).</summary>
    public long? PopulationSize { get; }

    /// <summary>Steps per window of the batch-means interval.</summary>
    public int StepsPerWindow { get; }

    /// <summary>β of the moving averages.</summary>
    public double MovingAverageBeta { get; }

    /// <summary>Steps added over the run.</summary>
    public long Steps => _run.Steps;

    /// <summary>The epoch steps are now added to (0-based): the number of <see cref="EndEpoch"/> calls.</summary>
    public int Epoch => _epochs.Count;

    /// <summary>The debiased moving average of tr Σ̂ (Adam's 1 − β^t correction); NaN before the first step.</summary>
    public double MovingTraceSigma => _emaX / (1 - _emaDecay);

    /// <summary>The debiased moving average of |Ĝ|²; NaN before the first step.</summary>
    public double MovingGradSqNorm => _emaY / (1 - _emaDecay);

    /// <summary>The live B_simple from the moving averages, or null while they do not give a positive one.</summary>
    public double? MovingBSimple => Steps > 0 && MovingGradSqNorm > 0 && MovingTraceSigma > 0 ? MovingTraceSigma / MovingGradSqNorm : null;

    /// <summary>The estimates of the epochs ended so far, in order.</summary>
    public IReadOnlyList<NoiseScaleEstimate> Epochs => _epochs;

    /// <summary>Adds one applied step; returns false and adds nothing when either norm is not finite.</summary>
    /// <param name="smallSquaredNorm">ℓ: the mean over ranks of the local small-batch gradient's squared norm.</param>
    /// <param name="bigSquaredNorm">γ: the squared norm of the reduced big-batch gradient.</param>
    public bool Add(double smallSquaredNorm, double bigSquaredNorm)
    {
        if (!double.IsFinite(smallSquaredNorm) || !double.IsFinite(bigSquaredNorm))
        {
            return false;
        }
        var (x, y) = NoiseScaleFormulas.Estimate(smallSquaredNorm, bigSquaredNorm, SmallBatch, BigBatch, PopulationSize);
        _run.AddStep(x, y);
        _epoch.AddStep(x, y);
        _windowX += x;
        _windowY += y;
        if (++_windowSteps == StepsPerWindow)
        {
            CloseWindow();
        }
        _emaX = MovingAverageBeta * _emaX + (1 - MovingAverageBeta) * x;
        _emaY = MovingAverageBeta * _emaY + (1 - MovingAverageBeta) * y;
        _emaDecay *= MovingAverageBeta;
        return true;
    }

    /// <summary>Ends the current epoch: its estimate joins <see cref="Epochs"/>, and a partial window is left out of the intervals.</summary>
    public NoiseScaleEstimate EndEpoch()
    {
        _windowX = _windowY = 0;
        _windowSteps = 0;
        var estimate = _epoch.Estimate(SmallBatch, BigBatch, PopulationSize is not null);
        _epochs.Add(estimate);
        _epoch = new WindowMoments();
        return estimate;
    }

    /// <summary>The estimate over every step added so far (the current epoch's included).</summary>
    public NoiseScaleEstimate Result() => _run.Estimate(SmallBatch, BigBatch, PopulationSize is not null);

    /// <summary>The estimate of the current epoch so far.</summary>
    public NoiseScaleEstimate CurrentEpoch() => _epoch.Estimate(SmallBatch, BigBatch, PopulationSize is not null);

    private void CloseWindow()
    {
        var x = _windowX / _windowSteps;
        var y = _windowY / _windowSteps;
        _run.AddWindow(x, y);
        _epoch.AddWindow(x, y);
        _windowX = _windowY = 0;
        _windowSteps = 0;
    }
}
