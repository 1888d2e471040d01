using System.Security.Cryptography.X509Certificates;
using Adan.Coordinator.Auth;
using Adan.Coordinator.Domain;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.Hosting;

/// <summary>
/// The coordinator as an object: Kestrel with HTTP/2 only, the gRPC services over the domain (job registry, checkpoint
/// catalogue, SQLite store), the auth and domain-error interceptors, the health service and the heartbeat monitor. Used by the coordinator's Program, by <c>adan coordinator</c> and by the tests.
/// </summary>
public sealed class CoordinatorHost : IAsyncDisposable
{
    private readonly CoordinatorOptions _options;
    private WebApplication? _app;

    /// <summary>Creates a host; nothing listens until <see cref="StartAsync"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public CoordinatorHost(CoordinatorOptions options)
    {
        options.Validate();
        _options = options;
    }

    /// <summary>The bound address (with the real port when 0 was asked for); null before <see cref="StartAsync"/>.</summary>
    public Uri? Address { get; private set; }

    /// <summary>Opens the catalogue, binds the port and starts serving.</summary>
    /// <returns>The address clients connect to, e.g. <c>http://127.0.0.1:41234</c>.</returns>
    public async Task<Uri> StartAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null)
        {
            throw new InvalidOperationException("The coordinator is already started.");
        }
        // Every path the coordinator writes or deletes under was link-resolved when a job began there (PathConfinement), so a
        // link met later anywhere in it was put there since, to redirect a commit or a deletion: refuse it.
        Adan.Sharded.IO.NoFollowFiles.LinksAboveRefused = true;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // Configuration comes from CoordinatorOptions only: no stray ASPNETCORE_URLS or appsettings.json.
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(_options.MinimumLogLevel);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(
            o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Bounded, so no client can exhaust descriptors or streams; the message-size limits are per method (HeaderTokenGate).
            kestrel.Limits.MaxConcurrentConnections = CoordinatorLimits.MaxConnections;
            kestrel.Limits.Http2.MaxStreamsPerConnection = CoordinatorLimits.MaxStreamsPerConnection;
            kestrel.Limits.MaxRequestBodySize = CoordinatorLimits.MaxMessageBytes + 5;
            kestrel.Listen(_options.Listen.ToIPAddress(), _options.Listen.Port, listen =>
            {
                // HTTP/2 only: over plain TCP there is no ALPN, so h2c must be the sole protocol.
                listen.Protocols = HttpProtocols.Http2;
                var certificate = LoadCertificate();
                if (certificate is not null)
                {
                    // The intermediates after the leaf in the PEM file are sent with it, so a client trusting only the
                    // root CA can build the chain.
                    listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = certificate, ServerCertificateChain = LoadIntermediates(certificate) });
                }
            });
        });

        builder.Services.AddSingleton(_options.TimeProvider ?? TimeProvider.System);
        builder.Services.AddSingleton(_options.ToDomainOptions());
        builder.Services.AddSingleton(new OperatorToken(_options.Token));
        builder.Services.AddSingleton(_ => new CoordinatorStore(_options.DataDirectory));
        builder.Services.AddSingleton<JobRegistry>();
        builder.Services.AddSingleton<JobSubmitters>();
        builder.Services.AddSingleton(services => new RootOwnership(services.GetRequiredService<CoordinatorStore>(), services.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(services => new AuditLog(_options.DataDirectory, services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<AuditLog>>()));
        builder.Services.AddSingleton<SubmitterCredentials>();
        builder.Services.AddSingleton<CheckpointCatalog>();
        if (_options.CredentialsFile is { } credentialsFile)
        {
            builder.Services.AddSingleton(services => new CredentialsReloader(credentialsFile, services.GetRequiredService<SubmitterCredentials>(),
                services.GetRequiredService<AuditLog>(), services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<CredentialsReloader>>()));
            builder.Services.AddHostedService(services => services.GetRequiredService<CredentialsReloader>());
        }
        builder.Services.AddSingleton<TokenAuthInterceptor>();
        builder.Services.AddSingleton<DomainErrorInterceptor>();
        builder.Services.AddHostedService<HeartbeatMonitor>();
        // Authentication first, so an unauthenticated call never reaches the domain, not even to be refused by it.
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = CoordinatorLimits.MaxMessageBytes;
            grpc.MaxSendMessageSize = CoordinatorLimits.MaxMessageBytes;
            grpc.Interceptors.Add<TokenAuthInterceptor>();
            grpc.Interceptors.Add<DomainErrorInterceptor>();
        });
        // With no registered check the health service answers Unknown; serving calls is what "healthy" means here.
        builder.Services.AddGrpcHealthChecks().AddCheck("coordinator", () => HealthCheckResult.Healthy());

        var app = builder.Build();
        // Before any handler reads a body: unauthenticated and oversized calls are refused on their headers.
        app.UseMiddleware<HeaderTokenGate>();
        app.MapGrpcService<MembershipService>();
        app.MapGrpcService<ScheduleService>();
        app.MapGrpcService<CheckpointService>();
        app.MapGrpcService<JobsService>();
        app.MapGrpcHealthChecksService();

        // Resolve the catalogue before listening so a broken data directory fails the start, not the first call; and
        // read the credentials, so a bad file does too.
        _ = app.Services.GetRequiredService<CheckpointCatalog>();
        app.Services.GetService<CredentialsReloader>()?.LoadInitial();
        _app = app;
        await app.StartAsync(cancellationToken);
        var bound = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        Address = new Uri(bound);
        return Address;
    }

    /// <summary>Reads the credentials file again now, as SIGHUP does; false when it is not configured or could not be read.</summary>
    internal bool ReloadCredentials() => _app?.Services.GetService<CredentialsReloader>()?.Reload("test", force: true) ?? false;

    /// <summary>Completes when the checkpoint directories that retention queued so far are deleted.</summary>
    internal Task WhenRetentionDone() =>
        _app?.Services.GetRequiredService<CheckpointCatalog>().WhenRetentionDone() ?? Task.CompletedTask;

    /// <summary>Completes when the host stops (Ctrl+C, SIGTERM or <see cref="StopAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) =>
        _app?.WaitForShutdownAsync(cancellationToken) ?? Task.CompletedTask;

    /// <summary>Stops accepting calls and ends open streams.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    /// <summary>Stops the host and releases the catalogue file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    /// <summary>The certificates after the leaf in a PEM <c>--tls-cert</c> file (none for PKCS#12).</summary>
    private X509Certificate2Collection LoadIntermediates(X509Certificate2 leaf)
    {
        var all = new X509Certificate2Collection();
        if (_options.TlsKeyFile is not null && _options.TlsCertificateFile is not null)
        {
            all.ImportFromPemFile(_options.TlsCertificateFile);
        }
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (certificate.Thumbprint != leaf.Thumbprint)
            {
                intermediates.Add(certificate);
            }
        }
        return intermediates;
    }

    private X509Certificate2? LoadCertificate()
    {
        if (_options.TlsCertificateFile is null)
        {
            return null;
        }
        return _options.TlsKeyFile is not null
            ? X509Certificate2.CreateFromPemFile(_options.TlsCertificateFile, _options.TlsKeyFile)
            : X509CertificateLoader.LoadPkcs12FromFile(_options.TlsCertificateFile, _options.TlsPfxPassword);
    }
}
