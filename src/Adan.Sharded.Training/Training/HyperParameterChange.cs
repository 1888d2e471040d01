namespace Adan.Sharded.Training;

/// <summary>A hyper-parameter whose value in this run differs from the checkpoint it resumes.</summary>
/// <param name="Name">The config key (or <c>global_batch</c>, <c>train_samples</c>).</param>
/// <param name="Checkpoint">The checkpoint's value, as a config file spells it.</param>
/// <param name="Current">This run's value.</param>
/// <param name="ReshapesSchedule">
/// Whether the change gives the learning-rate schedule another shape (warm-up, length, peak or decay), so that an
/// allowed change rebuilds it from this run's settings.
/// </param>
internal sealed record HyperParameterChange(string Name, string Checkpoint, string Current, bool ReshapesSchedule)
{
    /// <summary>One line: name, the checkpoint's value, this run's value.</summary>
    public override string ToString() => $"{Name}: checkpoint {Checkpoint}, this run {Current}";
}
