using System.CommandLine;
using Adan.Worker.Commands;

var root = new RootCommand("adan: data-parallel training with ZeRO-sharded Adan over MPI");
root.Subcommands.Add(MpiCheckCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CoordinatorCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(LaunchCommand.Create());
root.Subcommands.Add(CheckpointCommand.Create());
return CommandLineRunner.Run(root, args);
