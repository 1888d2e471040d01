using Adan.Sharded.Training.Config;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// Starts the OpenTelemetry exporters for a rank: the console exporter when the config asks for
/// it, OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads its settings from
/// the standard <c>OTEL_*</c> variables), nothing otherwise.
/// </summary>
internal static class TelemetrySetup
{
    /// <summary>The environment variable that turns the OTLP exporter on.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The library's meter and activity source, exported alongside the worker's own.</summary>
    public const string ShardedName = Adan.Sharded.Telemetry.ShardedTelemetry.Name;

    /// <summary>
    /// Starts exporting; dispose the result at the end of the run to flush. Returns an empty
    /// disposable when no exporter applies.
    /// </summary>
    /// <param name="mode">The config's <c>telemetry</c> setting.</param>
    /// <param name="rank">This process's rank, recorded as the service instance.</param>
    /// <param name="otlpEndpoint">The OTLP endpoint; by default the environment variable's value.</param>
    public static IDisposable Start(TelemetryMode mode, int rank, string? otlpEndpoint = null)
    {
        otlpEndpoint ??= Environment.GetEnvironmentVariable(OtlpEndpointVariable);
        var console = mode == TelemetryMode.Console;
        var otlp = !string.IsNullOrWhiteSpace(otlpEndpoint);
        if (!console && !otlp)
        {
            return new Providers(null, null);
        }

        var resource = ResourceBuilder.CreateDefault()
            .AddService("adan-worker", serviceInstanceId: $"rank-{rank}");
        var meters = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(WorkerTelemetry.Name, ShardedName);
        var tracers = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(WorkerTelemetry.Name, ShardedName);
        if (console)
        {
            // The SDK's default of one export a minute prints nothing in a short run.
            meters.AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 10_000);
            tracers.AddConsoleExporter();
        }
        if (otlp)
        {
            var endpoint = new Uri(otlpEndpoint!);
            meters.AddOtlpExporter(options => options.Endpoint = endpoint);
            tracers.AddOtlpExporter(options => options.Endpoint = endpoint);
        }
        return new Providers(meters.Build(), tracers.Build());
    }

    private sealed class Providers(MeterProvider? meters, TracerProvider? tracers) : IDisposable
    {
        public void Dispose()
        {
            meters?.Dispose();
            tracers?.Dispose();
        }
    }
}
