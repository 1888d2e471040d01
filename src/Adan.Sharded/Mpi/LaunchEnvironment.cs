using System.Collections;
using System.Globalization;

namespace Adan.Sharded.Mpi;

/// <summary>Who started this process as one of several: what the environment says before MPI is asked.</summary>
public enum Launcher
{
    /// <summary>Started alone: no launcher's variables, or a Slurm step of one task.</summary>
    None,

    /// <summary>A PMI process manager: MPICH's Hydra (<c>mpiexec</c>, also inside a Slurm allocation) or <c>srun --mpi=pmi2</c> (<c>PMI_RANK</c>, <c>PMI_SIZE</c>).</summary>
    Pmi,

    /// <summary>A PMIx server (<c>srun --mpi=pmix</c>, <c>prterun</c>): <c>PMIX_RANK</c>.</summary>
    Pmix,

    /// <summary>A task of a Slurm step with no PMI variables (<c>srun</c> with <c>--mpi=none</c>): <c>SLURM_PROCID</c>.</summary>
    Slurm,

    /// <summary>Open MPI's <c>mpirun</c>, which cannot start MPICH-ABI programs: <c>OMPI_COMM_WORLD_RANK</c>/<c>_SIZE</c>.</summary>
    OpenMpi,
}

/// <summary>
/// The launch as this process's environment describes it, read before MPI initialises and checked against the world MPI
/// forms, so that ranks an MPI library cannot join (MPICH under <c>srun --mpi=pmix</c>, say) stop together with one
/// line instead of training as W independent one-rank jobs.
/// </summary>
/// <remarks>
/// <para>
/// Precedence: Open MPI's variables first (its <c>mpirun</c> is refused whatever else is set); then PMI, since Hydra's
/// ranks inside an allocation inherit the <c>SLURM_*</c> of the proxy srun started (task k of the node count), and
/// its <c>PMI_*</c> describe the real job; then PMIx; then Slurm's task variables.
/// </para>
/// <para>
/// A Slurm step's size is <c>SLURM_STEP_NUM_TASKS</c>, else <c>SLURM_NTASKS</c>. A batch script's shell also has
/// <c>SLURM_PROCID=0</c> and the job's <c>SLURM_NTASKS</c> but no step id: a process it runs directly is one
/// process, not task 0 of many.
/// </para>
/// </remarks>
/// <param name="Launcher">Who started the process.</param>
/// <param name="Rank">This process's index among the launched ones, or null when the launcher does not say.</param>
/// <param name="Size">How many processes were launched, or null when the environment does not say.</param>
public sealed record LaunchEnvironment(Launcher Launcher, int? Rank, int? Size)
{
    /// <summary>Whether a launcher started this process as one of a job, so that it must initialise MPI and join the others.</summary>
    public bool IsLaunched => Launcher != Launcher.None;

    /// <summary>This process's launch, from its environment.</summary>
    public static LaunchEnvironment FromProcess()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            variables[(string)entry.Key] = entry.Value as string ?? "";
        }
        return Detect(variables);
    }

    /// <summary>The launch the environment <paramref name="environment"/> describes (a pure function of it).</summary>
    public static LaunchEnvironment Detect(IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        int? Number(string name) =>
            environment.TryGetValue(name, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        bool Has(string name) => environment.ContainsKey(name);

        if (Has("OMPI_COMM_WORLD_SIZE") || Has("OMPI_COMM_WORLD_RANK"))
        {
            return new LaunchEnvironment(Launcher.OpenMpi, Number("OMPI_COMM_WORLD_RANK"), Number("OMPI_COMM_WORLD_SIZE"));
        }
        if (Has("PMI_RANK") || Has("PMI_SIZE"))
        {
            return new LaunchEnvironment(Launcher.Pmi, Number("PMI_RANK"), Number("PMI_SIZE"));
        }
        var slurmSize = Number("SLURM_STEP_NUM_TASKS") ?? Number("SLURM_NTASKS");
        if (Has("PMIX_RANK"))
        {
            return new LaunchEnvironment(Launcher.Pmix, Number("PMIX_RANK"), Has("SLURM_PROCID") ? slurmSize : null);
        }
        var inStep = Has("SLURM_STEP_ID") || Has("SLURM_STEPID");
        if (Number("SLURM_PROCID") is { } task && slurmSize > 1 && (inStep || task > 0))
        {
            return new LaunchEnvironment(Launcher.Slurm, task, slurmSize);
        }
        return new LaunchEnvironment(Launcher.None, null, null);
    }

    /// <summary>Why this process must not initialise MPI at all, or null: Open MPI's <c>mpirun</c> started it.</summary>
    public string? Refusal() => Launcher == Launcher.OpenMpi
        ? "started by Open MPI's mpirun (OMPI_COMM_WORLD_*), which cannot launch MPICH-ABI programs; use `adan launch` or mpiexec.mpich " +
            "(Debian/Ubuntu package mpich), or Intel MPI / MVAPICH / Cray MPICH's launcher"
        : null;

    /// <summary>
    /// Why the world MPI formed (<paramref name="worldSize"/> ranks) is not the one launched, or null when it is (or
    /// the environment cannot tell): one line naming the problem and the way that works.
    /// </summary>
    public string? Mismatch(int worldSize)
    {
        var differs = Size is { } size ? size != worldSize : Rank >= worldSize;
        if (!IsLaunched || !differs)
        {
            return null;
        }
        var task = Size is { } n ? $"{Rank?.ToString(CultureInfo.InvariantCulture) ?? "?"} of {n}" : $"{Rank}";
        var (by, why) = Launcher switch
        {
            Launcher.Pmi => ("a PMI launcher (PMI_RANK, PMI_SIZE)", "the MPI library could not join its process manager"),
            Launcher.Pmix => ("a PMIx launcher (PMIX_RANK)", "the MPICH library here does not speak PMIx"),
            _ => ("srun without PMI (SLURM_PROCID, SLURM_NTASKS)", "MPICH finds no process manager to join"),
        };
        var world = worldSize == 1 ? "a world of 1 (each task would train alone)" : $"a world of {worldSize}";
        return $"started as task {task} by {by}, but MPI formed {world}: {why}; " +
            "run `adan launch -n W -- train ...` inside the allocation (deploy/slurm.sbatch), or `srun --mpi=pmi2` where Slurm has its pmi2 plugin";
    }
}
