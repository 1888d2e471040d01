namespace Adan.Coordinator.Domain;

/// <summary>One joined rank of a job; mutated only under the job's lock.</summary>
internal sealed class Member(int rank, string host, int pid, long lastSeen)
{
    public int Rank { get; } = rank;

    public string Host { get; } = host;

    public int Pid { get; } = pid;

    /// <summary>
    /// SHA-256 of the rank's secret (see <see cref="RankProof"/>); null for a member that joined through a coordinator
    /// that predates rank secrets.
    /// </summary>
    public string? SecretHash { get; init; }

    /// <summary>
    /// <see cref="TimeProvider.GetTimestamp"/> of the last Join or Heartbeat: monotonic, immune to wall-clock jumps.
    /// </summary>
    public long LastSeen { get; set; } = lastSeen;

    public long Step { get; set; } = -1;

    /// <summary>Progress marks reported (steps, saves and evaluations begun and ended); 0 until the rank reports any.</summary>
    public long Progress { get; set; }

    /// <summary><see cref="TimeProvider.GetTimestamp"/> of the heartbeat that first carried the current <see cref="Progress"/>.</summary>
    public long LastProgress { get; set; } = lastSeen;

    /// <summary>The longest interval between two progress marks the rank reported.</summary>
    public TimeSpan LongestProgressInterval { get; set; }

    public bool Left { get; set; }

    /// <summary>Watch streams it holds open now (a reconnecting rank may briefly hold two).</summary>
    public int OpenWatches { get; set; }

    /// <summary>
    /// <see cref="TimeProvider.GetTimestamp"/> of when its last open Watch stream was closed from its side (its process
    /// ended or its link broke) while it was a member; null while it watches, and before its first Watch.
    /// </summary>
    public long? Disconnected { get; set; }
}
