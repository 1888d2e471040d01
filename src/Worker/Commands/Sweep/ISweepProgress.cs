using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// What a sweep shows while it runs: runs done of all, each running run's steps, and the time left. Runs are named by
/// their 1-based index in the executed list; with <c>--parallel</c> several run at once and report from several
/// threads, so an implementation is thread-safe.
/// </summary>
internal interface ISweepProgress : IDisposable
{
    /// <summary>The sweep starts <paramref name="total"/> runs.</summary>
    void Start(int total);

    /// <summary>Run <paramref name="index"/> (1-based) starts on <paramref name="slice"/>.</summary>
    void RunStarted(int index, PlannedRun run, LaunchSlice slice);

    /// <summary>Run <paramref name="index"/> recorded a step in its <c>metrics.jsonl</c>; <paramref name="eta"/> is the sweep's time left.</summary>
    void RunProgress(int index, PlannedRun run, StepMetrics step, TimeSpan? eta);

    /// <summary>Run <paramref name="index"/> ended, or was skipped, with <paramref name="summary"/> saying how.</summary>
    void RunEnded(int index, PlannedRun run, string summary);

    /// <summary>Stops the display and leaves its last state on screen.</summary>
    void Complete();
}
