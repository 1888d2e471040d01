using System.CommandLine;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;
using Adan.Worker.Config;

namespace Adan.Worker.Commands;

/// <summary>
/// <c>adan train --config FILE [--set key=value ...]</c>: one rank of a training job over the built-in model and data
/// the config names, through the trainer library's <see cref="TrainingJob"/> as any application's ranks run. Under
/// <c>mpiexec.mpich -n W</c> every process is a rank; started alone it trains on one process without MPI. SIGUSR1 or
/// SIGTERM makes every rank stop after the same step, save it and exit with <see cref="ExitCodes.Preempted"/>.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var options = new ConfigOptions();
        var telemetry = new Option<string?>("--telemetry") { Description = "Telemetry exporter: none | console (OTLP is used when OTEL_EXPORTER_OTLP_ENDPOINT is set); same as --set telemetry=..." };
        telemetry.AcceptOnlyFromAmong([.. Enum.GetValues<TelemetryMode>().Select(ConfigBinder.Name)]);
        var command = new Command("train",
            $"Train a model data-parallel with a ZeRO-sharded optimizer ({string.Join(" | ", OptimizerRegistry.Names)}; one process per rank). "
            + "Every config key, with its type, default, range and description: adan config keys.") { telemetry };
        options.AddTo(command);
        command.SetAction(result =>
            TrainingJob.BuiltIn(options.BindOptions(result, result.GetValue(telemetry) is { } mode ? [$"telemetry={mode}"] : null)).Run().ExitCode);
        return command;
    }
}
