using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Launch;

/// <summary>
/// How long <c>adan launch</c> waits for a preemption save before it stops the job at once, unless
/// <c>--preempt-grace</c> says: what a save of this run measured (rank 0's <c>checkpoint</c> records in
/// <c>metrics.jsonl</c>, earlier attempts' included) with margin, or a fixed default before any save was measured.
/// </summary>
internal static class PreemptGrace
{
    /// <summary>The grace before any save of the run was measured (checkpoint_every 0, or none yet): Slurm's conventional warning time.</summary>
    public const double UnmeasuredSeconds = 120;

    /// <summary>The longest measured save is multiplied by this: the preemption save may meet a busier file system.</summary>
    public const double Factor = 3;

    /// <summary>Added to the measured grace: the step in progress finishes before the save starts, and the ranks then exit.</summary>
    public const double MarginSeconds = 30;

    /// <summary>
    /// The grace for the <c>train ...</c> command <paramref name="arguments"/>: <see cref="Factor"/> × its longest
    /// measured save + <see cref="MarginSeconds"/>, or <see cref="UnmeasuredSeconds"/> when its run directory holds no
    /// measurement this host can read (a config that does not bind, rank 0 on another host).
    /// </summary>
    /// <param name="arguments">The adan command, or a program's arguments.</param>
    /// <param name="program">Whether <paramref name="arguments"/> are a program's (<c>--program</c>).</param>
    public static TimeSpan Measured(string[] arguments, bool program = false)
    {
        var longest = LaunchedTrainConfig.TryRead(arguments, program) is { } config
            ? MetricsLog.ReadCheckpoints(Path.Combine(config.RunDir, MetricsLog.FileName)).Select(c => c.Seconds).DefaultIfEmpty(double.NaN).Max()
            : double.NaN;
        return TimeSpan.FromSeconds(double.IsFinite(longest) ? Factor * longest + MarginSeconds : UnmeasuredSeconds);
    }
}
