using System.Globalization;

namespace Adan.Sharded.Training.Progress;

/// <summary>The text forms of progress values, shared by the plain and the live display.</summary>
internal static class ProgressFormat
{
    /// <summary>
    /// One plain log line, e.g. <c>epoch 1 step 120/940 loss 0.4123 lr 1.2e-03 samples/s 2150 eta 00:03:12</c>, with
    /// <c>skipped N</c> before the ETA once steps were skipped.
    /// </summary>
    public static string Line(StepReport report, TimeSpan? eta) =>
        string.Create(CultureInfo.InvariantCulture,
            $"epoch {report.Epoch} step {report.Step}/{report.TotalSteps} loss {report.Loss:F4} lr {LearningRate(report.Lr)} samples/s {report.SamplesPerSecond:F0}{NoiseScale(report.NoiseScale)}{Skipped(report.SkippedSteps)} eta {Duration(eta)}");

    /// <summary><c> B_noise≈820</c> (with its leading space) when there is an estimate, else empty.</summary>
    public static string NoiseScale(double? bSimple) =>
        bSimple is { } b && double.IsFinite(b) ? string.Create(CultureInfo.InvariantCulture, $" B_noise≈{b:F0}") : string.Empty;

    /// <summary><c> skipped N</c> (with its leading space) when <paramref name="skippedSteps"/> &gt; 0, else empty: a healthy run's line stays as it was.</summary>
    public static string Skipped(long skippedSteps) =>
        skippedSteps > 0 ? string.Create(CultureInfo.InvariantCulture, $" skipped {skippedSteps}") : string.Empty;

    /// <summary>A learning rate in two significant digits, e.g. <c>1.2e-03</c>.</summary>
    public static string LearningRate(double lr) => lr.ToString("0.0e+00", CultureInfo.InvariantCulture);

    /// <summary><c>hh:mm:ss</c> (hours not wrapped at 24), or <c>--:--:--</c> when unknown.</summary>
    public static string Duration(TimeSpan? duration)
    {
        if (duration is not { } d || d < TimeSpan.Zero || d.TotalHours >= 10_000)
        {
            return "--:--:--";
        }
        return string.Create(CultureInfo.InvariantCulture, $"{(long)d.TotalHours:00}:{d.Minutes:00}:{d.Seconds:00}");
    }

    /// <summary>
    /// Time left, from the step rate since the reporter started: <paramref name="elapsed"/> over
    /// <paramref name="stepsDone"/> steps, <paramref name="stepsLeft"/> to go; null before the first step.
    /// </summary>
    public static TimeSpan? Eta(TimeSpan elapsed, long stepsDone, long stepsLeft) =>
        stepsDone <= 0 ? null : TimeSpan.FromSeconds(elapsed.TotalSeconds / stepsDone * Math.Max(stepsLeft, 0));
}
