namespace Adan.Coordinator.Hosting;

/// <summary>Configuration of one coordinator process.</summary>
public sealed record CoordinatorOptions
{
    /// <summary>Address to listen on; loopback by default so a job token never crosses the network in clear text by accident.</summary>
    public ListenAddress Listen { get; init; } = new("127.0.0.1", 0);

    /// <summary>The job token every call must present as <c>authorization: Bearer &lt;token&gt;</c>.</summary>
    public required string Token { get; init; }

    /// <summary>Directory of the SQLite catalogue (<c>coordinator.db</c>); created if missing.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Default root of checkpoint directories (<c>&lt;root&gt;/&lt;job&gt;/step-…</c>); null means <c>&lt;data dir&gt;/checkpoints</c>.</summary>
    public string? CheckpointRoot { get; init; }

    /// <summary>A rank silent for longer than this fails its job. Default 30 s.</summary>
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(30);

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

    /// <summary>The effective checkpoint root.</summary>
    public string EffectiveCheckpointRoot => Path.GetFullPath(CheckpointRoot ?? Path.Combine(DataDirectory, "checkpoints"));

    /// <summary>Checks the options; throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Token))
        {
            throw new ArgumentException("Invalid job token: empty (give --token-file FILE or set ADAN_JOB_TOKEN)", nameof(Token));
        }
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException("Invalid data directory: empty (give --data-dir DIR)", nameof(DataDirectory));
        }
        if (HeartbeatTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Invalid heartbeat timeout: {HeartbeatTimeout.TotalSeconds} s (must be > 0)", nameof(HeartbeatTimeout));
        }
        if (KeepLast < 0)
        {
            throw new ArgumentException($"Invalid keep-last: {KeepLast} (must be >= 0; 0 keeps all)", nameof(KeepLast));
        }
        if (TlsKeyFile is not null && TlsCertificateFile is null)
        {
            throw new ArgumentException("Invalid TLS options: --tls-key given without --tls-cert", nameof(TlsKeyFile));
        }
    }
}
