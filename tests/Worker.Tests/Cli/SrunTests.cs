namespace Adan.Worker.Tests.Cli;

/// <summary><c>adan train</c> started by <c>srun</c> with no PMI its MPI library can join: every task stops, none trains alone.</summary>
public class SrunTests
{
    [Fact]
    public void ATaskOfSeveralThatMpiSeesAloneStopsWithOneLine()
    {
        // What `srun -n 2 --mpi=none adan train` gives task 1: Slurm's variables, no PMI_*.
        var result = AdanCli.Run([.. AdanCli.TinyTrain, "--set", "run_dir=/nonexistent/adan-srun-test"], TimeSpan.FromSeconds(60),
            new Dictionary<string, string> { ["SLURM_PROCID"] = "1", ["SLURM_NTASKS"] = "2" });

        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("adan train: started as task 1 of 2 by srun", line);
        Assert.Contains("MPI formed a world of 1", line);
        Assert.Contains("adan launch", line);
        Assert.Empty(result.Stdout);
    }
}
