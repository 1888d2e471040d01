using System.CommandLine;
using Adan.Worker.Commands;
using Adan.Worker.Commands.Sweep;

if (args.Length > 0 && args[0] == CoordinatorCommand.Name)
{
    return CoordinatorCommand.Run(args[1..]);
}

var root = new RootCommand("adan: data-parallel training with ZeRO-sharded Adan over MPI");
root.Subcommands.Add(MpiCheckCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CoordinatorCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(ConfigCommand.Create());
root.Subcommands.Add(LaunchCommand.Create());
root.Subcommands.Add(CheckpointCommand.Create());
root.Subcommands.Add(SweepCommand.Create());
return CommandLineRunner.Run(root, args);
