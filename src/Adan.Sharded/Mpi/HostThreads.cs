namespace Adan.Sharded.Mpi;

/// <summary>
/// How many compute threads one rank should use: the host's cores divided by the ranks on that
/// host, so W ranks on one machine do not oversubscribe its cores.
/// </summary>
public static class HostThreads
{
    /// <summary>Ranks on this host as the launcher reports it (MPICH Hydra, Open MPI, Slurm), else 1.</summary>
    public static int LocalRanks()
    {
        foreach (var variable in new[] { "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE" })
        {
            if (int.TryParse(System.Environment.GetEnvironmentVariable(variable), out var n) && n > 0)
            {
                return n;
            }
        }
        return 1;
    }

    /// <summary>Cores divided by local ranks, at least 1; <paramref name="requested"/> &gt; 0 overrides.</summary>
    public static int PerRank(int requested = 0) =>
        requested > 0 ? requested : Math.Max(1, System.Environment.ProcessorCount / LocalRanks());
}
