namespace Adan.Coordinator.Client;

/// <summary>The coordinator declared the job failed; every rank should abort rather than enter another collective.</summary>
/// <param name="reason">The coordinator's reason, naming the rank that timed out.</param>
public sealed class JobFailedEventArgs(string reason) : EventArgs
{
    /// <summary>Why the job failed.</summary>
    public string Reason { get; } = reason;
}
