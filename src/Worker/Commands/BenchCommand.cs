using System.CommandLine;
using Adan.Worker.Commands.Bench;

namespace Adan.Worker.Commands;

/// <summary><c>adan bench</c>: micro-benchmarks, one subcommand per benchmark in <c>Commands/Bench/</c>.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Run a micro-benchmark; each run measures one configuration in this process and writes one JSON record.");
        command.Subcommands.Add(OptimizerBenchCommand.Create());
        command.Subcommands.Add(AllReduceBench.Create());
        command.Subcommands.Add(ZeroBench.Create());
        command.Subcommands.Add(CheckpointBench.Create());
        command.Subcommands.Add(NoiseBench.Create());
        return command;
    }
}
