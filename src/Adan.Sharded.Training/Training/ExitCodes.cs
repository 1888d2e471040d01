namespace Adan.Sharded.Training;

/// <summary>
/// The exit codes of every <c>adan</c> command, as Unix tools use them; the <c>adan</c> command runner maps parse
/// errors and exceptions onto them so that no command picks its own.
/// </summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>A failure at run time: missing data, a damaged checkpoint, a failed rank, an I/O or MPI error.</summary>
    public const int Failure = 1;

    /// <summary>A usage error: an unknown option, a bad value or config, a missing argument; nothing was run.</summary>
    public const int Usage = 2;

    /// <summary>
    /// Preempted, checkpoint committed: SIGUSR1 or SIGTERM asked the job to stop, every rank stopped at the same step and
    /// a checkpoint of that step is committed; the same command with <c>--set resume=latest</c> continues where it
    /// stopped. <c>EX_TEMPFAIL</c> of sysexits.h ("try again later"), which <c>deploy/slurm.sbatch</c> requeues on.
    /// </summary>
    public const int Preempted = 75;

    /// <summary>Stopped by SIGHUP (the terminal or ssh session went away), as shells report it (128 + 1).</summary>
    public const int HangUp = 129;

    /// <summary>Stopped by SIGINT (Ctrl-C), as shells report it (128 + 2); used by <c>adan sweep</c> and <c>adan launch</c>, which stop cleanly.</summary>
    public const int Interrupted = 130;

    /// <summary>
    /// Stopped by SIGTERM (128 + 15): <c>adan sweep</c>, which stops cleanly, and <c>adan launch</c> when the preemption
    /// save fell back to the immediate stop (a second signal, or <c>--preempt-grace</c> ran out).
    /// </summary>
    public const int Terminated = 143;
}
