using Adan.Sharded.Mpi;

namespace Adan.Sharded.Tests.Mpi;

/// <summary>Who started the process, as a pure function of its environment, and when MPI's world contradicts it.</summary>
public class LaunchEnvironmentTests
{
    /// <summary>An environment ("NAME=VALUE NAME=VALUE"), the launcher and rank/size it describes (-1: not said).</summary>
    public static TheoryData<string, Launcher, int, int> Environments => new()
    {
        { "", Launcher.None, -1, -1 },
        { "HOME=/root PATH=/usr/bin", Launcher.None, -1, -1 },
        // Hydra's ranks.
        { "PMI_RANK=2 PMI_SIZE=4", Launcher.Pmi, 2, 4 },
        { "PMI_SIZE=4", Launcher.Pmi, -1, 4 },
        // Hydra inside an allocation: the rank inherits the proxy's task variables (task 1 of 2 nodes); PMI wins.
        { "PMI_RANK=3 PMI_SIZE=4 SLURM_PROCID=1 SLURM_NTASKS=2 SLURM_STEP_ID=0", Launcher.Pmi, 3, 4 },
        // srun --mpi=pmi2 sets both.
        { "PMI_RANK=5 PMI_SIZE=8 SLURM_PROCID=5 SLURM_NTASKS=8 SLURM_STEP_ID=0", Launcher.Pmi, 5, 8 },
        // srun --mpi=none: Slurm's task variables only.
        { "SLURM_PROCID=3 SLURM_NTASKS=8 SLURM_STEP_ID=0", Launcher.Slurm, 3, 8 },
        { "SLURM_PROCID=0 SLURM_NTASKS=8 SLURM_STEPID=1", Launcher.Slurm, 0, 8 },
        { "SLURM_PROCID=1 SLURM_NTASKS=2", Launcher.Slurm, 1, 2 },
        // The step's own count wins over the job's.
        { "SLURM_PROCID=1 SLURM_NTASKS=8 SLURM_STEP_NUM_TASKS=2 SLURM_STEP_ID=3", Launcher.Slurm, 1, 2 },
        // A one-task step, and a batch script's shell (task 0, the job's count, no step): one process.
        { "SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_STEP_ID=0", Launcher.None, -1, -1 },
        { "SLURM_PROCID=0 SLURM_NTASKS=8 SLURM_JOB_ID=42", Launcher.None, -1, -1 },
        { "SLURM_PROCID=zero SLURM_NTASKS=8 SLURM_STEP_ID=0", Launcher.None, -1, -1 },
        // srun --mpi=pmix: the size comes from Slurm.
        { "PMIX_RANK=3 PMIX_NAMESPACE=slurm.pmix.42.0 SLURM_PROCID=3 SLURM_NTASKS=8 SLURM_STEP_ID=0", Launcher.Pmix, 3, 8 },
        { "PMIX_RANK=1 PMIX_NAMESPACE=prterun-x-1", Launcher.Pmix, 1, -1 },
        // Open MPI's mpirun, with or without the others.
        { "OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2", Launcher.OpenMpi, 1, 2 },
        { "OMPI_COMM_WORLD_SIZE=2 PMIX_RANK=1 PMI_RANK=1", Launcher.OpenMpi, -1, 2 },
    };

    [Theory]
    [MemberData(nameof(Environments))]
    public void TheEnvironmentNamesTheLauncher(string environment, Launcher launcher, int rank, int size)
    {
        var launch = LaunchEnvironment.Detect(Parse(environment));
        Assert.Equal(new LaunchEnvironment(launcher, rank < 0 ? null : rank, size < 0 ? null : size), launch);
        Assert.Equal(launcher != Launcher.None, launch.IsLaunched);
    }

    /// <summary>An environment, the world MPI formed, and a word the refusal must hold (empty: no refusal).</summary>
    public static TheoryData<string, int, string> Worlds => new()
    {
        { "SLURM_PROCID=3 SLURM_NTASKS=8 SLURM_STEP_ID=0", 1, "started as task 3 of 8 by srun without PMI" },
        { "SLURM_PROCID=3 SLURM_NTASKS=8 SLURM_STEP_ID=0", 8, "" },
        { "PMIX_RANK=3 SLURM_PROCID=3 SLURM_NTASKS=8 SLURM_STEP_ID=0", 1, "does not speak PMIx" },
        { "PMIX_RANK=1", 1, "started as task 1 by a PMIx launcher" },
        { "PMIX_RANK=0", 1, "" },
        { "PMI_RANK=1 PMI_SIZE=4", 1, "a world of 1" },
        { "PMI_RANK=1 PMI_SIZE=4", 2, "a world of 2" },
        { "PMI_RANK=1 PMI_SIZE=4", 4, "" },
        { "", 1, "" },
    };

    [Theory]
    [MemberData(nameof(Worlds))]
    public void AWorldOtherThanTheLaunchedOneIsOneLineWithTheFix(string environment, int worldSize, string named)
    {
        var mismatch = LaunchEnvironment.Detect(Parse(environment)).Mismatch(worldSize);
        if (named.Length == 0)
        {
            Assert.Null(mismatch);
            return;
        }
        Assert.NotNull(mismatch);
        Assert.Contains(named, mismatch);
        Assert.DoesNotContain('\n', mismatch);
        Assert.Contains("adan launch", mismatch);
        Assert.Contains("srun --mpi=pmi2", mismatch);
    }

    [Fact]
    public void OpenMpisMpirunIsRefusedBeforeMpiStarts()
    {
        Assert.Contains("mpiexec.mpich", LaunchEnvironment.Detect(Parse("OMPI_COMM_WORLD_SIZE=2")).Refusal());
        Assert.Null(LaunchEnvironment.Detect(Parse("PMI_RANK=0 PMI_SIZE=2")).Refusal());
    }

    private static Dictionary<string, string> Parse(string environment) =>
        environment.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(pair => pair.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
}
