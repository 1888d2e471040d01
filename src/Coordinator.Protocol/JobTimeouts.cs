namespace Adan.Coordinator.Protocol;

/// <summary>
/// The stall and join timeouts' defaults and valid range, in one place for the coordinator's <c>--stall-timeout</c> and
/// <c>--join-timeout</c> and <c>adan launch</c>'s flags of the same names (which it passes on), so both accept and
/// refuse the same values.
/// </summary>
public static class JobTimeouts
{
    /// <summary>Seconds a job may wait in PENDING for its last rank to join, unless told otherwise.</summary>
    public const double DefaultJoinSeconds = 300;

    /// <summary>The adaptive stall timeout is never shorter than this many seconds.</summary>
    public const double MinimumAdaptiveStallSeconds = 60;

    /// <summary>The adaptive stall timeout is this many times the longest interval between two progress marks seen.</summary>
    public const double AdaptiveStallFactor = 10;

    /// <summary>The longest timeout accepted: one day, as for the heartbeat timeout.</summary>
    public const double MaxSeconds = HeartbeatTimeout.MaxSeconds;

    /// <summary>The rule, for messages: what a valid value is.</summary>
    public const string Rule = HeartbeatTimeout.Rule;

    /// <summary>Whether <paramref name="seconds"/> is a valid timeout: finite, positive and at most <see cref="MaxSeconds"/>.</summary>
    public static bool IsValid(double seconds) => HeartbeatTimeout.IsValid(seconds);

    /// <summary>
    /// The stall timeout a job runs under when none was configured: ten times the longest interval between two progress
    /// marks any of its ranks reported (a slow step, a checkpoint save, an evaluation), and at least 60 s.
    /// </summary>
    public static TimeSpan AdaptiveStall(TimeSpan longestProgressInterval) =>
        TimeSpan.FromSeconds(Math.Min(MaxSeconds, Math.Max(MinimumAdaptiveStallSeconds, AdaptiveStallFactor * longestProgressInterval.TotalSeconds)));
}
