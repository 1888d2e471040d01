namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Runs a stage of a sweep's planned runs: here, one <c>adan launch</c> per slice at a time (<see cref="SweepExecutor"/>),
/// or as one Slurm job array (<see cref="Slurm.SlurmSweepExecutor"/>). Either skips the runs whose <c>result.json</c>
/// already finishes their plan and writes each other run's result as soon as it ends.
/// </summary>
internal interface ISweepExecutor
{
    /// <summary>
    /// Runs <paramref name="runs"/> (indices in progress reports are 1-based positions in this list) and returns one
    /// result per run, in the same order.
    /// </summary>
    /// <param name="runs">The runs, in plan order.</param>
    /// <param name="stop">Cancelled to end the running launches (a signal); runs not started are then not started.</param>
    IReadOnlyList<RunResult> Execute(IReadOnlyList<PlannedRun> runs, CancellationToken stop);
}
