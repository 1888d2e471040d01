namespace Adan.Sharded.Training;

/// <summary>
/// How a <see cref="TrainingJob"/> ended on this rank: the exit code a program returns, and the run's outcome (the
/// figures of <c>summary.json</c>, which rank 0 writes into the run directory, identical on every rank).
/// </summary>
public sealed record TrainingResult
{
    /// <summary>The exit code of a preempted run whose checkpoint is committed (<c>EX_TEMPFAIL</c>); <c>adan launch</c> and Slurm requeue on it.</summary>
    public const int PreemptedExitCode = ExitCodes.Preempted;

    /// <summary>0 when the run finished; <see cref="PreemptedExitCode"/> when a signal stopped it after a committed save.</summary>
    public required int ExitCode { get; init; }

    /// <summary>Whether SIGUSR1 or SIGTERM stopped the run after every rank saved the same step.</summary>
    public bool Preempted => ExitCode == PreemptedExitCode;

    /// <summary>This process's rank in the job (0 alone): rank 0 is the one that writes the run's records.</summary>
    public required int Rank { get; init; }

    /// <summary>The number of ranks.</summary>
    public required int WorldSize { get; init; }

    /// <summary>Optimizer steps done, counting those before a resume.</summary>
    public required long Steps { get; init; }

    /// <summary>The last training loss, averaged over the ranks.</summary>
    public required double FinalLoss { get; init; }

    /// <summary>The last validation score; null without a validation set, or when preempted.</summary>
    public TaskScore? Validation { get; init; }

    /// <summary>The final test score; null without a test set, or when preempted.</summary>
    public TaskScore? Test { get; init; }

    /// <summary>The last checkpoint committed; null when the run saved none.</summary>
    public string? LastCheckpoint { get; init; }

    /// <summary>Where <c>summary.json</c> and <c>metrics.jsonl</c> are.</summary>
    public required string RunDirectory { get; init; }
}
