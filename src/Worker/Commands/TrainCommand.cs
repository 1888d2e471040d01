using System.CommandLine;
using Adan.Sharded.Collectives;
using Adan.Sharded.Mpi;
using Adan.Sharded.Zero;
using Adan.Worker.Config;
using Adan.Worker.Data;
using Adan.Worker.Training;

namespace Adan.Worker.Commands;

/// <summary>
/// <c>adan train --config FILE [--set key=value ...]</c>: one rank of a training job. Under
/// <c>mpiexec.mpich -n W</c> every process is a rank; started alone it trains on one process
/// without MPI.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var options = new ConfigOptions();
        var telemetry = new Option<string?>("--telemetry") { Description = "Telemetry exporter: none | console (OTLP is used when OTEL_EXPORTER_OTLP_ENDPOINT is set); same as --set telemetry=..." };
        var command = new Command("train", "Train a model data-parallel with ZeRO-sharded Adan (one process per rank).") { telemetry };
        options.AddTo(command);
        command.SetAction(result => Run(options, result, result.GetValue(telemetry)));
        return command;
    }

    /// <summary>Whether this process was started by an MPI launcher (MPICH Hydra or a PMI-compatible one).</summary>
    public static bool LaunchedByMpi =>
        Environment.GetEnvironmentVariable("PMI_SIZE") is not null || Environment.GetEnvironmentVariable("PMI_RANK") is not null
        || Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null;

    private static bool IsFirstRank => Environment.GetEnvironmentVariable("PMI_RANK") is null or "0";

    private static int Run(ConfigOptions options, ParseResult result, string? telemetry)
    {
        TrainConfig config;
        try
        {
            config = options.Bind(result, telemetry is null ? null : [$"telemetry={telemetry}"]);
        }
        catch (ConfigException e)
        {
            if (IsFirstRank)
            {
                Console.Error.WriteLine($"adan train: {e.Message}");
            }
            return 2;
        }
        try
        {
            using ICollective collective = LaunchedByMpi ? new MpiCollective() : new SingleProcessCollective();
            return new Trainer(config, collective, Console.Out).RunAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is Adan.Sharded.Checkpoints.CheckpointException or DatasetNotFoundException or MpiLibraryException or NonFiniteGradientException or ArgumentException or InvalidDataException or IOException)
        {
            Console.Error.WriteLine($"adan train: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            // Not an expected failure: say what it was first, then give the trace for a bug report.
            Console.Error.WriteLine($"adan train: unexpected {e.GetType().Name}: {e.Message}");
            Console.Error.WriteLine(e.StackTrace);
            return 1;
        }
    }
}
