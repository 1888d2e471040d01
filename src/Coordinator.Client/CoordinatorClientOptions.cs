namespace Adan.Coordinator.Client;

/// <summary>Who a <see cref="CoordinatorClient"/> is and how patiently it calls.</summary>
public sealed record CoordinatorClientOptions
{
    /// <summary>Coordinator address, e.g. <c>http://127.0.0.1:50051</c> (h2c) or <c>https://…</c>.</summary>
    public required Uri Address { get; init; }

    /// <summary>The job's token (or the operator token), sent as <c>authorization: Bearer &lt;token&gt;</c>.</summary>
    public required string Token { get; init; }

    /// <summary>PEM file of the CA certificate(s) an <c>https://</c> coordinator must chain to; null trusts the system store.</summary>
    public string? TrustedCaFile { get; init; }

    /// <summary>Job this rank belongs to.</summary>
    public required string JobId { get; init; }

    /// <summary>This process's rank.</summary>
    public required int Rank { get; init; }

    /// <summary>Number of ranks of the job.</summary>
    public required int WorldSize { get; init; }

    /// <summary>Host name reported at Join. Default: <see cref="Environment.MachineName"/>.</summary>
    public string Host { get; init; } = Environment.MachineName;

    /// <summary>Process id reported at Join, for diagnostics. Default: this process.</summary>
    public int Pid { get; init; } = Environment.ProcessId;

    /// <summary>
    /// This rank's secret (64 hex digits; see <see cref="Protocol.RankSecret"/>): its SHA-256 goes with Join, the secret
    /// itself with every later call that names the rank. Default: a new one per options object, so every client made for
    /// one rank (its link, its failure report) must share one options object or pass the same value.
    /// </summary>
    public string RankSecret { get; init; } = Protocol.RankSecret.New();

    /// <summary>Deadline of each attempt of each call. Default 10 s.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Attempts per call while the coordinator is Unavailable (restarting). Default 8 (about 20 s of backoff).</summary>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>Wait before the first retry; doubles each retry. Default 100 ms.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between retries. Default 5 s.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The clock of heartbeats, progress marks and the unreachable-coordinator deadline. Default: the system clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
