namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// How good one learning rate looked on validation, over the seeds run with it; lower is better in every field, and
/// scores compare field by field: runs that finished before those that did not, then (with a target) fewer steps to it,
/// censored runs last, then the validation metric.
/// </summary>
/// <param name="Unfinished">0 when at least one seed finished, 1 when none did.</param>
/// <param name="StepsToTarget">
/// The median over finished seeds of the steps to <c>--target</c>, a censored seed counted as never; 0 without a target.
/// </param>
/// <param name="Badness">
/// The median over finished seeds of −val_accuracy, or of val_loss where no run has an accuracy; a missing or
/// non-finite value (a diverged run) counts as the worst.
/// </param>
internal sealed record ValidationScore(int Unfinished, double StepsToTarget, double Badness) : IComparable<ValidationScore>
{
    /// <summary>The score of <paramref name="seeds"/>, the runs of one learning rate at one (batch, optimizer).</summary>
    /// <param name="seeds">The runs, finished or not.</param>
    /// <param name="byAccuracy">Whether to judge by val_accuracy (else val_loss).</param>
    /// <param name="hasTarget">Whether the sweep times runs to a target.</param>
    public static ValidationScore Of(IEnumerable<RunResult> seeds, bool byAccuracy, bool hasTarget)
    {
        var finished = seeds.Where(r => r.Status == RunStatus.Finished).ToList();
        if (finished.Count == 0)
        {
            return new ValidationScore(1, double.PositiveInfinity, double.PositiveInfinity);
        }
        var steps = hasTarget
            ? Median(finished.Select(r => r.TargetReached == true && r.TargetStep is { } step ? step : double.PositiveInfinity))
            : 0;
        var badness = Median(finished.Select(r => (byAccuracy ? -r.ValAccuracy : r.ValLoss) is { } v && double.IsFinite(v) ? v : double.PositiveInfinity));
        return new ValidationScore(0, steps, badness);
    }

    /// <inheritdoc />
    public int CompareTo(ValidationScore? other)
    {
        if (other is null)
        {
            return -1;
        }
        var unfinished = Unfinished.CompareTo(other.Unfinished);
        if (unfinished != 0)
        {
            return unfinished;
        }
        var steps = StepsToTarget.CompareTo(other.StepsToTarget);
        return steps != 0 ? steps : Badness.CompareTo(other.Badness);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        var mid = sorted.Count / 2;
        // Infinity stays infinity: a median with a censored or diverged seed in the middle is as bad as that seed.
        return sorted.Count % 2 == 1 ? sorted[mid] : sorted[mid - 1] / 2 + sorted[mid] / 2;
    }
}
