using Adan.Coordinator.Domain;
using Adan.Coordinator.Protocol;

namespace Adan.Coordinator.Hosting;

/// <summary>Configuration of one coordinator process.</summary>
public sealed record CoordinatorOptions
{
    /// <summary>Address to listen on; loopback by default so a token never crosses the network in clear text by accident.</summary>
    public ListenAddress Listen { get; init; } = new("127.0.0.1", 0);

    /// <summary>
    /// The operator token: presented as <c>authorization: Bearer &lt;token&gt;</c>, it creates jobs (each gets a token
    /// of its own) and may act on any job.
    /// </summary>
    public required string Token { get; init; }

    /// <summary>
    /// The submitter credentials (<c>--credentials-file</c>, lines <c>NAME:sha256:HEX[:EXPIRY]</c>): each may create
    /// jobs and act on the jobs it created; re-read when it changes and on SIGHUP. Null: only the operator token creates jobs.
    /// </summary>
    public string? CredentialsFile { get; init; }

    /// <summary>Directory of the SQLite catalogue (<c>coordinator.db</c>); created if missing.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// The directories, besides <see cref="DataDirectory"/>, under which clients may have checkpoints written
    /// (<c>--checkpoint-root</c>, repeatable); a Begin naming any other root is refused. The first is the default
    /// root (<c>&lt;root&gt;/&lt;job&gt;/step-…</c>); none means <c>&lt;data dir&gt;/checkpoints</c>.
    /// </summary>
    public IReadOnlyList<string> CheckpointRoots { get; init; } = [];

    /// <summary>How long an ended job stays queryable before it and its token are forgotten. Default one hour.</summary>
    public TimeSpan JobTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Longest <see cref="JobTtl"/> accepted: 30 days.</summary>
    public static readonly TimeSpan MaxJobTtl = TimeSpan.FromDays(30);

    /// <summary>Concurrent Watch streams per job; null means world size + <see cref="CoordinatorLimits.ExtraWatchStreams"/>.</summary>
    public int? MaxWatchStreamsPerJob { get; init; }

    /// <summary>
    /// Allow plaintext (h2c) on an address other than loopback. Without TLS, tokens cross the network in clear text,
    /// so a non-loopback <see cref="Listen"/> without a certificate is refused unless this is set.
    /// </summary>
    public bool Insecure { get; init; }

    /// <summary>Longest <see cref="HeartbeatTimeout"/> accepted: beyond a day a hung job would hold its nodes unnoticed.</summary>
    public static readonly TimeSpan MaxHeartbeatTimeout = TimeSpan.FromSeconds(Adan.Coordinator.Protocol.HeartbeatTimeout.MaxSeconds);

    /// <summary>A rank silent for longer than this fails its job; in (0, <see cref="MaxHeartbeatTimeout"/>]. Default 30 s.</summary>
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A running rank that makes no progress (steps, saves, evaluations) for this long fails its job; null is adaptive: ten
    /// times the longest interval between progress marks seen, at least 60 s. In (0, one day].
    /// </summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>A job still PENDING (a rank never joined) this long after its first rank joined fails. In (0, one day]. Default 300 s.</summary>
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(JobTimeouts.DefaultJoinSeconds);

    /// <summary>Committed checkpoints kept per job; older ones are deleted after each commit. 0 keeps all. Default 3.</summary>
    public int KeepLast { get; init; } = 3;

    /// <summary>PEM certificate, or a PKCS#12 (.pfx/.p12) file when <see cref="TlsKeyFile"/> is null; null serves h2c.</summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="TlsCertificateFile"/>.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>Password of a PKCS#12 certificate, if any.</summary>
    public string? TlsPfxPassword { get; init; }

    /// <summary>Lowest level logged (to stderr, so stdout carries only the listening line). Default Warning: per-call information is noise at 200 ranks.</summary>
    public Microsoft.Extensions.Logging.LogLevel MinimumLogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Warning;

    /// <summary>
    /// Stop when standard input reaches its end. <c>adan launch</c> starts the coordinator with a pipe on its standard
    /// input that only the launcher holds: if the launcher dies, even by SIGKILL, the pipe closes and the coordinator
    /// stops instead of serving an orphaned job.
    /// </summary>
    public bool StopOnStandardInputEof { get; init; }

    /// <summary>The clock of heartbeat deadlines, the monitor's period and stored timestamps; null is the system clock. Tests pass a fake one.</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>The effective checkpoint root.</summary>
    public string EffectiveCheckpointRoot => Path.GetFullPath(CheckpointRoots.Count > 0 ? CheckpointRoots[0] : Path.Combine(DataDirectory, "checkpoints"));

    /// <summary>True when clients reach the coordinator over plaintext on a non-loopback address.</summary>
    public bool ServesPlaintextOffLoopback => TlsCertificateFile is null && !Listen.IsLoopback;

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Token))
        {
            throw new ArgumentException($"Invalid job token: empty (give --token-file FILE or set {CoordinatorEnvironment.TokenVariable})", nameof(Token));
        }
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException("Invalid data directory: empty (give --data-dir DIR)", nameof(DataDirectory));
        }
        if (HeartbeatTimeout <= TimeSpan.Zero || HeartbeatTimeout > MaxHeartbeatTimeout)
        {
            throw new ArgumentException(
                $"Invalid heartbeat timeout: {HeartbeatTimeout.TotalSeconds} s (must be > 0 and <= {MaxHeartbeatTimeout.TotalSeconds} s)", nameof(HeartbeatTimeout));
        }
        foreach (var (name, value) in new[] { ("stall", StallTimeout), ("join", (TimeSpan?)JoinTimeout) })
        {
            if (value is { } timeout && (timeout <= TimeSpan.Zero || timeout > MaxHeartbeatTimeout))
            {
                throw new ArgumentException(
                    $"Invalid {name} timeout: {timeout.TotalSeconds} s (must be > 0 and <= {MaxHeartbeatTimeout.TotalSeconds} s)", name == "stall" ? nameof(StallTimeout) : nameof(JoinTimeout));
            }
        }
        if (KeepLast < 0)
        {
            throw new ArgumentException($"Invalid keep-last: {KeepLast} (must be >= 0; 0 keeps all)", nameof(KeepLast));
        }
        if (TlsKeyFile is not null && TlsCertificateFile is null)
        {
            throw new ArgumentException("Invalid TLS options: --tls-key given without --tls-cert", nameof(TlsKeyFile));
        }
        if (ServesPlaintextOffLoopback && !Insecure)
        {
            throw new ArgumentException(
                $"Refusing to listen on {Listen} without TLS: tokens would cross the network in clear text "
                + "(give --tls-cert FILE --tls-key FILE, listen on 127.0.0.1, or accept the risk with --insecure)", nameof(Listen));
        }
        if (JobTtl <= TimeSpan.Zero || JobTtl > MaxJobTtl)
        {
            throw new ArgumentException($"Invalid job TTL: {JobTtl.TotalSeconds} s (must be > 0 and <= {MaxJobTtl.TotalSeconds} s)", nameof(JobTtl));
        }
        if (MaxWatchStreamsPerJob is < 1)
        {
            throw new ArgumentException($"Invalid max watch streams: {MaxWatchStreamsPerJob} (must be >= 1)", nameof(MaxWatchStreamsPerJob));
        }
        if (CheckpointRoots.Any(r => !Path.IsPathFullyQualified(r)))
        {
            throw new ArgumentException($"Invalid checkpoint root: '{CheckpointRoots.First(r => !Path.IsPathFullyQualified(r))}' (must be absolute)", nameof(CheckpointRoots));
        }
    }

    /// <summary>The policies the job registry and the checkpoint catalogue run under.</summary>
    internal DomainOptions ToDomainOptions() => new()
    {
        CheckpointRoot = EffectiveCheckpointRoot,
        HeartbeatTimeout = HeartbeatTimeout,
        StallTimeout = StallTimeout,
        JoinTimeout = JoinTimeout,
        KeepLast = KeepLast,
        JobTtl = JobTtl,
        MaxWatchStreamsPerJob = MaxWatchStreamsPerJob,
        AllowedRoots = [Path.GetFullPath(DataDirectory), EffectiveCheckpointRoot, .. CheckpointRoots.Select(Path.GetFullPath)],
    };
}
