namespace Adan.Coordinator.Protocol;

/// <summary>
/// The heartbeat timeout's default and valid range, in one place for the coordinator's <c>--heartbeat-timeout</c> and
/// <c>adan launch --heartbeat-timeout</c> (which passes it on), so both accept and refuse the same values.
/// </summary>
public static class HeartbeatTimeout
{
    /// <summary>Seconds of silence after which a rank fails its job, unless told otherwise.</summary>
    public const double DefaultSeconds = 30;

    /// <summary>The longest timeout accepted: one day. Longer is a typo, and would overflow timers at the extreme.</summary>
    public const double MaxSeconds = 86_400;

    /// <summary>The rule, for messages: what a valid value is.</summary>
    public const string Rule = "expected a number of seconds > 0, at most 86400 = one day";

    /// <summary>Whether <paramref name="seconds"/> is a valid timeout: finite, positive and at most <see cref="MaxSeconds"/>.</summary>
    public static bool IsValid(double seconds) => double.IsFinite(seconds) && seconds > 0 && seconds <= MaxSeconds;
}
