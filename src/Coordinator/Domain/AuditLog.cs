using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.Domain;

/// <summary>
/// The audit trail: one JSON object per line in <c>&lt;data dir&gt;/audit.jsonl</c> (mode 0600) for every job created,
/// checkpoint committed or deleted, checkpoint root claimed or transferred, and credential or access refused, each
/// naming the credential, so that tools can answer "who did this" with <c>jq</c>.
/// </summary>
/// <remarks>
/// Fields: <c>time</c> (UTC, ISO 8601), <c>event</c> (<see cref="Events"/>), <c>credential</c> (the submitter
/// credential's name, <c>operator</c>, or null when no credential was recognised), then the event's own fields
/// (<c>job</c>, <c>root</c>, <c>directory</c>, <c>step</c>, <c>reason</c>, ...). Appends are single <c>write</c>s
/// with <c>O_APPEND</c>, so the operator commands may append to the same file while the coordinator runs. A failed
/// append is logged, never fails the call it records (the action already happened).
/// </remarks>
internal sealed class AuditLog
{
    /// <summary>The file's name in the data directory.</summary>
    public const string FileName = "audit.jsonl";

    /// <summary>The event names.</summary>
    public static class Events
    {
        public const string JobCreated = "job.created";
        public const string CheckpointCommitted = "checkpoint.committed";
        public const string CheckpointDeleted = "checkpoint.deleted";
        public const string RootClaimed = "root.claimed";
        public const string RootTransferred = "root.transferred";
        public const string CredentialRefused = "credential.refused";
        public const string AccessDenied = "access.denied";
        public const string CredentialsReloaded = "credentials.reloaded";
    }

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly ILogger? _logger;

    /// <summary>Appends to <c>audit.jsonl</c> in <paramref name="dataDirectory"/>.</summary>
    public AuditLog(string dataDirectory, TimeProvider time, ILogger<AuditLog>? logger = null)
    {
        Path = System.IO.Path.Combine(dataDirectory, FileName);
        _time = time;
        _logger = logger;
    }

    /// <summary>The audit file.</summary>
    public string Path { get; }

    /// <summary>Appends one line.</summary>
    /// <param name="eventName">One of <see cref="Events"/>.</param>
    /// <param name="credential">The credential acting (or refused); null when none was recognised.</param>
    /// <param name="fields">The event's own fields; null values are written as null.</param>
    public void Record(string eventName, string? credential, params (string Name, object? Value)[] fields)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("event", eventName);
            WriteValue(json, "credential", credential);
            foreach (var (name, value) in fields)
            {
                WriteValue(json, name, value);
            }
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        try
        {
            lock (_gate)
            {
                var options = new FileStreamOptions
                {
                    Mode = FileMode.Append,
                    Access = FileAccess.Write,
                    Share = FileShare.ReadWrite,
                    // Unbuffered: the line goes out in one write, which O_APPEND keeps whole beside other appenders.
                    BufferSize = 0,
                };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }
                using var file = new FileStream(Path, options);
                file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger?.LogError("Cannot append to the audit log {Path}: {Message}; lost: {Line}", Path, e.Message, Encoding.UTF8.GetString(buffer.ToArray()).TrimEnd());
        }
    }

    private static void WriteValue(Utf8JsonWriter json, string name, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNull(name);
                break;
            case long or int:
                json.WriteNumber(name, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
            default:
                json.WriteString(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                break;
        }
    }
}
