namespace Adan.Coordinator.Domain;

/// <summary>One joined rank of a job; mutated only under the job's lock.</summary>
internal sealed class Member(int rank, string host, int pid, long lastSeen)
{
    public int Rank { get; } = rank;

    public string Host { get; } = host;

    public int Pid { get; } = pid;

    /// <summary>
    /// <see cref="TimeProvider.GetTimestamp"/> of the last Join or Heartbeat: monotonic, immune to wall-clock jumps.
    /// </summary>
    public long LastSeen { get; set; } = lastSeen;

    public long Step { get; set; } = -1;

    public bool Left { get; set; }
}
