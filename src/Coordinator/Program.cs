using System.CommandLine;
using Adan.Coordinator.Hosting;

var root = new RootCommand("Adan coordinator: membership, learning-rate schedule and checkpoint commits for one or more jobs");
CoordinatorCommandLine.Configure(root);
return root.Parse(args).Invoke();
