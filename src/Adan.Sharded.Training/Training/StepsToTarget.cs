namespace Adan.Sharded.Training;

/// <summary>
/// When a run first reached its <see cref="MetricTarget"/>: the step and the training samples, linearly interpolated
/// between the last evaluation that had not reached it and the first that had; or censored (never reached within the
/// run), with the last evaluated step, which is then a lower bound.
/// </summary>
/// <param name="Reached">Whether the target was reached.</param>
/// <param name="Step">The interpolated step of reaching it; when censored, the last evaluated step.</param>
/// <param name="Samples">The interpolated training samples seen; when censored, those of the last evaluation.</param>
internal readonly record struct StepsToTarget(bool Reached, double Step, double Samples)
{
    /// <summary>
    /// From a run's evaluations in step order (each with the step, the samples seen and the target's metric). When the
    /// first evaluation already reaches the target nothing earlier is known, so its own step is taken (a run should
    /// evaluate often enough that this is rare). Null when there is no evaluation.
    /// </summary>
    public static StepsToTarget? Find(IReadOnlyList<(long Step, long Samples, double Value)> evaluations, MetricTarget target)
    {
        if (evaluations.Count == 0)
        {
            return null;
        }
        for (var i = 0; i < evaluations.Count; i++)
        {
            var (step, samples, value) = evaluations[i];
            if (!double.IsFinite(value) || !target.IsReachedBy(value))
            {
                continue;
            }
            if (i == 0 || !double.IsFinite(evaluations[i - 1].Value))
            {
                return new StepsToTarget(true, step, samples);
            }
            var (step0, samples0, value0) = evaluations[i - 1];
            // value0 has not reached the target and value has, so they differ and the fraction lies in (0, 1].
            var fraction = (target.Value - value0) / (value - value0);
            return new StepsToTarget(true, step0 + fraction * (step - step0), samples0 + fraction * (samples - samples0));
        }
        var last = evaluations[^1];
        return new StepsToTarget(false, last.Step, last.Samples);
    }
}
