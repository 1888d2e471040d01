namespace Adan.Coordinator.Client;

/// <summary>
/// A rank's progress marks: how many it made (one per training step, one at the start and end of each checkpoint save and
/// evaluation) and the longest interval between two of them, which heartbeats carry to the coordinator's stall rule.
/// </summary>
/// <remarks>Marked by the training thread, read by the heartbeat thread; lock-free.</remarks>
internal sealed class ProgressMarks(TimeProvider time)
{
    private long _count;
    private long _longestTicks;
    private long _last = time.GetTimestamp();

    /// <summary>Marks made so far.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>The longest interval between two marks (the first measured from construction).</summary>
    public TimeSpan LongestInterval => TimeSpan.FromTicks(Interlocked.Read(ref _longestTicks));

    /// <summary>Records one mark now.</summary>
    public void Mark()
    {
        var now = time.GetTimestamp();
        var interval = time.GetElapsedTime(Interlocked.Exchange(ref _last, now), now).Ticks;
        if (interval > Interlocked.Read(ref _longestTicks))
        {
            Interlocked.Exchange(ref _longestTicks, interval);
        }
        Interlocked.Increment(ref _count);
    }
}
