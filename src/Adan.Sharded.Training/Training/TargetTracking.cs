using Adan.Sharded.Training.Telemetry;

namespace Adan.Sharded.Training;

/// <summary>
/// Follows a run's validation evaluations for its <c>target</c>: whether the latest reached it (for
/// <c>stop_at_target</c>, the same on every rank since scores are all-reduced) and, for <c>summary.json</c>, when it
/// was first reached (<see cref="StepsToTarget"/>). A resumed run starts from the validation records its
/// <c>metrics.jsonl</c> kept (rank 0, which writes the summary, has them).
/// </summary>
internal sealed class TargetTracking
{
    private readonly bool _stopAtTarget;
    private readonly List<(long Step, long Samples, double Value)> _evaluations = new();
    private bool _stopped;

    /// <param name="target">The target; null for none (nothing is tracked).</param>
    /// <param name="stopAtTarget">Whether reaching it ends the run.</param>
    /// <param name="earlier">Evaluations already in the run's <c>metrics.jsonl</c> (resumed runs); only validation records count.</param>
    public TargetTracking(MetricTarget? target, bool stopAtTarget, IEnumerable<EvalMetrics> earlier)
    {
        Target = target;
        _stopAtTarget = stopAtTarget && target is not null;
        foreach (var record in earlier)
        {
            Add(record);
        }
    }

    /// <summary>The target, or null.</summary>
    public MetricTarget? Target { get; }

    /// <summary>Records a validation evaluation; true when it reached the target and the run should stop there.</summary>
    public bool Observe(EvalMetrics record)
    {
        if (Target is null || !Add(record))
        {
            return false;
        }
        var reached = Target.IsReachedBy(_evaluations[^1].Value);
        _stopped |= reached && _stopAtTarget;
        return reached && _stopAtTarget;
    }

    /// <summary>The summary's <c>target</c>; null without a target.</summary>
    public TargetSummary? Summary()
    {
        if (Target is null)
        {
            return null;
        }
        var found = StepsToTarget.Find(_evaluations, Target);
        return new TargetSummary(Target.Metric, Target.Value, found?.Reached == true, found?.Reached != true, found?.Step, found?.Samples, _stopped);
    }

    private bool Add(EvalMetrics record)
    {
        if (Target is null || record.Split != EvalMetrics.ValidationSplit)
        {
            return false;
        }
        var value = Target.HigherIsBetter ? record.Accuracy ?? double.NaN : record.Loss;
        if (_evaluations.Count > 0 && record.Step <= _evaluations[^1].Step)
        {
            return false;
        }
        _evaluations.Add((record.Step, record.SamplesSeen, value));
        return true;
    }
}
