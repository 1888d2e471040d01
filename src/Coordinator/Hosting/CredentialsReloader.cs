using System.Runtime.InteropServices;
using Adan.Coordinator.Auth;
using Adan.Coordinator.Domain;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.Hosting;

/// <summary>
/// Keeps the submitter credentials in step with <c>--credentials-file</c>: read at start (a bad file stops the start),
/// then again whenever its modification time or size changes (checked every <see cref="PollPeriod"/>) and on SIGHUP, so
/// adding, revoking or rotating a credential needs no restart.
/// </summary>
/// <remarks>
/// A file that turns unreadable or malformed on a reload is logged as an error and the credentials in force stay:
/// an editor's half-written save must not lock every submitter out, and a removed line is a well-formed file (so a
/// revocation is never the one that is ignored). Each reload is an audit line with the names it revoked.
/// </remarks>
internal sealed class CredentialsReloader(string path, SubmitterCredentials credentials, AuditLog audit, TimeProvider time, ILogger<CredentialsReloader> logger)
    : BackgroundService
{
    /// <summary>How often the file's modification time and size are compared.</summary>
    public static readonly TimeSpan PollPeriod = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private (DateTime Modified, long Length) _seen;

    /// <summary>Reads the file the first time.</summary>
    /// <exception cref="FormatException">A line is malformed.</exception>
    /// <exception cref="IOException">The file is missing, unreadable or writable by others.</exception>
    public void LoadInitial()
    {
        lock (_gate)
        {
            _seen = Stamp();
            credentials.Replace(CredentialsFile.Read(path));
        }
    }

    /// <summary>Reads the file again if it changed (or always, when <paramref name="force"/>), keeping the credentials in force on an error.</summary>
    /// <returns>True when the file was read and put in force.</returns>
    public bool Reload(string trigger, bool force)
    {
        lock (_gate)
        {
            try
            {
                var stamp = Stamp();
                if (!force && stamp == _seen)
                {
                    return false;
                }
                _seen = stamp;
                var revoked = credentials.Replace(CredentialsFile.Read(path));
                audit.Record(AuditLog.Events.CredentialsReloaded, Caller.OperatorName, ("file", path), ("trigger", trigger),
                    ("credentials", credentials.Count), ("revoked", string.Join(",", revoked)));
                logger.LogInformation("Credentials reloaded from {Path} ({Trigger}): {Count} in force", path, trigger, credentials.Count);
                return true;
            }
            catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
            {
                logger.LogError("Credentials file not reloaded ({Trigger}), the previous credentials stay in force: {Message}", trigger, e.Message);
                return false;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var hangup = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            // Handled: SIGHUP's default action would end the coordinator.
            context.Cancel = true;
            _ = Task.Run(() => Reload("SIGHUP", force: true), CancellationToken.None);
        });
        using var timer = new PeriodicTimer(PollPeriod, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Reload("changed", force: false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host shutdown.
        }
    }

    private (DateTime, long) Stamp()
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
    }
}
