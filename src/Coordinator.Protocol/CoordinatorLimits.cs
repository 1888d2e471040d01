namespace Adan.Coordinator.Protocol;

/// <summary>
/// The control plane's size limits, stated once for the server (which enforces them) and the clients (which size
/// their channels by them).
/// </summary>
public static class CoordinatorLimits
{
    /// <summary>Most ranks a job may have: 2¹⁶. A job's member table is allocated at its first Join, so the bound keeps one request from claiming gigabytes.</summary>
    public const int MaxWorldSize = 65_536;

    /// <summary>Largest reply, and largest Commit request, in bytes (16 MiB): a manifest body or the checkpoint list of a large job fits well within it.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    /// <summary>Largest request other than Commit, in bytes (64 KiB): the biggest (a Join with its schedule, a failure report) needs a few KiB.</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>Longest host name a rank may send, in UTF-8 bytes (a DNS name is at most 253 characters).</summary>
    public const int MaxHostBytes = 255;

    /// <summary>Longest failure message or abort reason, in UTF-8 bytes (4 KiB): one line of diagnosis, not a log.</summary>
    public const int MaxReasonBytes = 4096;

    /// <summary>Checkpoints a job may hold open at once: a save in progress and a few abandoned by a crash before their abort.</summary>
    public const int MaxOpenCheckpoints = 4;

    /// <summary>Checkpoints a job may begin without committing them (open or aborted): each costs a directory and a catalogue row.</summary>
    public const int MaxUncommittedCheckpoints = 64;

    /// <summary>
    /// Connections the coordinator accepts at once: one per rank of the largest job it allows, and a thousand more for
    /// launchers and observers; beyond it Kestrel closes new connections at once instead of running out of descriptors.
    /// </summary>
    public const int MaxConnections = MaxWorldSize + 1024;

    /// <summary>Concurrent HTTP/2 streams (calls) per connection: a rank holds a Watch and makes one call at a time.</summary>
    public const int MaxStreamsPerConnection = 100;

    /// <summary>Watch streams a job may hold beyond one per rank (the launcher, an operator's <c>watch</c>), unless <c>--max-watch-streams</c> says otherwise.</summary>
    public const int ExtraWatchStreams = 16;

    /// <summary>Events buffered per Watch stream; a watcher that falls this far behind has its stream ended and re-subscribes from a snapshot.</summary>
    public const int WatchBufferEvents = 1024;
}
