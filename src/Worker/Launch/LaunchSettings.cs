namespace Adan.Worker.Launch;

/// <summary>The launcher's parsed command line.</summary>
internal sealed record LaunchSettings(int Ranks, FileInfo? Hostfile, Uri? CoordinatorUrl, string Listen, double HeartbeatTimeout,
    double? StallTimeout, double? JoinTimeout, double GraceSeconds, FileInfo? TokenFile, string? JobId, string[] Arguments,
    LaunchSecurity.Settings Security, int MaxRestarts, int? MinRanks, double? PreemptGraceSeconds)
{
    public TimeSpan Grace => TimeSpan.FromSeconds(GraceSeconds);

    /// <summary>The time a preemption save is given; null for <see cref="Launch.PreemptGrace.Measured"/>.</summary>
    public TimeSpan? PreemptGrace => PreemptGraceSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
}
