using Adan.Worker.Config;
using System.CommandLine;
using Adan.Sharded.Collectives;
using Adan.Sharded.Mpi;
using Adan.Sharded.Threading;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training;

namespace Adan.Worker.Commands;

/// <summary>
/// <c>adan train --config FILE [--set key=value ...]</c>: one rank of a training job. Under
/// <c>mpiexec.mpich -n W</c> every process is a rank; started alone it trains on one process
/// without MPI. SIGUSR1 or SIGTERM makes every rank stop after the same step, save it and exit with
/// <see cref="ExitCodes.Preempted"/> (see <see cref="PreemptionRequest"/>).
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
        command.SetAction(result => Run(options.Bind(result, result.GetValue(telemetry) is { } mode ? [$"telemetry={mode}"] : null)));
        return command;
    }

    /// <summary>
    /// Whether a launcher started this process as one rank of several (Hydra, srun, a PMIx server; see
    /// <see cref="LaunchEnvironment"/>): it then joins the others through MPI, which stops every rank when it cannot.
    /// </summary>
    public static bool LaunchedByMpi => LaunchEnvironment.FromProcess().IsLaunched;

    /// <summary>
    /// The rank's collective for where its buffers live: the device comes from the <c>device</c> setting and, for
    /// <c>cuda</c>, the rank's index on its host, which MPI knows once initialised.
    /// </summary>
    private static ICollective CreateCollective(TrainConfig config)
    {
        var launched = LaunchedByMpi;
        var localRank = launched && config.Device != "cpu" ? MpiRuntime.Initialize().LocalRank : 0;
        return CollectiveFactory.Create(config.Collective, DeviceChoice.Resolve(config.Device, localRank), launched);
    }

    /// <summary>
    /// Runs the rank on its compute thread: the OpenMP/MKL defaults are set before anything loads libtorch (the
    /// collective's device check does), then MPI, the trainer and every continuation of its awaits run on one thread
    /// bound to the configured threads (see <see cref="ComputeThread"/>).
    /// </summary>
    private static int Run(TrainConfig config)
    {
        var threads = config.EffectiveThreads(HostThreads.LocalRanks());
        var defaultsApplied = NativeThreadDefaults.Apply(threads);
        return ComputeThread.Run(threads, async () =>
        {
            using var collective = CreateCollective(config);
            var abort = new RankAbort(collective.Rank, collective.WorldSize, LaunchedByMpi || JobEnvironment.HasCoordinator, Console.Error);
            using var preemption = new PreemptionRequest();
            return await new Trainer(config, collective, Console.Out, abort, threads, defaultsApplied, preemption).RunAsync();
        });
    }
}
