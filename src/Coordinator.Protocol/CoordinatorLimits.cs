namespace Adan.Coordinator.Protocol;

/// <summary>
/// The control plane's size limits, stated once for the server (which enforces them) and the clients (which size
/// their channels by them).
/// </summary>
public static class CoordinatorLimits
{
    /// <summary>Most ranks a job may have: 2¹⁶. A job's member table is allocated at its first Join, so the bound keeps one request from claiming gigabytes.</summary>
    public const int MaxWorldSize = 65_536;

    /// <summary>Largest request or reply, in bytes (16 MiB): a manifest body or the checkpoint list of a large job fits well within it.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    /// <summary>Watch streams a job may hold beyond one per rank (the launcher, an operator's <c>watch</c>), unless <c>--max-watch-streams</c> says otherwise.</summary>
    public const int ExtraWatchStreams = 16;

    /// <summary>Events buffered per Watch stream; a watcher that falls this far behind has its stream ended and re-subscribes from a snapshot.</summary>
    public const int WatchBufferEvents = 1024;
}
