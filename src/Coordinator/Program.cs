using System.CommandLine;
using Adan.Coordinator.Hosting;

if (args.Length > 0 && OperatorCommands.Names.Contains(args[0]))
{
    return OperatorCommands.Run(args, Console.Out, Console.Error);
}
var root = new RootCommand("Adan coordinator: membership, learning-rate schedule and checkpoint commits for one or more jobs");
CoordinatorCommandLine.Configure(root);
return root.Parse(args).Invoke();
