namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The number a sweep compares runs by: test accuracy for the classifiers, test loss for the GPT (which has no
/// accuracy); chosen from the finished results, so the report and the plot agree.
/// </summary>
internal sealed record SweepMetric(string Name, string Unit, bool HigherIsBetter)
{
    /// <summary>Test accuracy, in percent.</summary>
    public static readonly SweepMetric Accuracy = new("test accuracy", "%", HigherIsBetter: true);

    /// <summary>Mean test loss.</summary>
    public static readonly SweepMetric Loss = new("test loss", "", HigherIsBetter: false);

    /// <summary>Accuracy when any finished run has one, else the loss.</summary>
    public static SweepMetric For(IEnumerable<RunResult> results) =>
        results.Any(r => r.Status == RunStatus.Finished && r.TestAccuracy is not null) ? Accuracy : Loss;

    /// <summary>The metric of a finished run (accuracy in percent), or null.</summary>
    public double? Of(RunResult result) =>
        result.Status != RunStatus.Finished ? null
        : HigherIsBetter ? result.TestAccuracy * 100
        : result.TestLoss;

    /// <summary>
    /// How much worse the largest batch is than the smallest: accuracy points lost, or loss gained; positive is worse.
    /// Null unless both runs finished.
    /// </summary>
    public double? Decline(RunResult? smallest, RunResult? largest) =>
        smallest is null || largest is null || Of(smallest) is not { } small || Of(largest) is not { } large ? null
        : HigherIsBetter ? small - large
        : large - small;
}
