namespace Adan.Worker.Tests.Cli;

/// <summary><c>adan launch</c> inside a Slurm allocation: the allocation is the hostfile.</summary>
public class LaunchSlurmTests
{
    /// <summary>An allocation of this machine alone, with <paramref name="tasks"/> tasks on it, as sbatch describes it.</summary>
    private static Dictionary<string, string> Allocation(string nodeList, string tasks) =>
        new() { ["SLURM_JOB_NODELIST"] = nodeList, ["SLURM_TASKS_PER_NODE"] = tasks };

    [Fact]
    public void TheRanksGoWhereTheAllocationSaysAndTheLauncherSaysWhere()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-slurm-").FullName;
        try
        {
            var result = AdanCli.Run(["launch", "-n", "2", "--", .. AdanCli.TinyTrain, "--set", "max_steps=2", "--set", $"run_dir={runDir}"],
                TimeSpan.FromSeconds(120), Allocation("localhost", "2"));

            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.Contains("adan launch: hosts from the Slurm allocation (SLURM_JOB_NODELIST=localhost): localhost:2", result.Stderr);
            Assert.Contains("\"world_size\": 2", File.ReadAllText(Path.Combine(runDir, "summary.json")));
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Theory]
    [InlineData("node[01-02]", "2(x2)", "-n 3: the Slurm allocation has 4 task(s) (node01:2, node02:2); give -n 4, or --hostfile FILE")]
    [InlineData("node[01-02", "2(x2)", "SLURM_JOB_NODELIST 'node[01-02': '[' at 4 of 'node[01-02' is never closed; give --hostfile FILE")]
    [InlineData("node[01-02]", "2(x3)", "SLURM_TASKS_PER_NODE '2(x3)' gives 3 node(s) but SLURM_JOB_NODELIST 'node[01-02]' has 2")]
    public void AnAllocationThatDoesNotFitIsOneLine(string nodeList, string tasks, string expected)
    {
        var result = AdanCli.Run(["launch", "-n", "3", "--", "train"], TimeSpan.FromSeconds(60), Allocation(nodeList, tasks));

        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("adan launch: ", line);
        Assert.Contains(expected, line);
    }
}
