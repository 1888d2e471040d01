using Adan.Worker.Telemetry;

namespace Adan.Worker.Commands.Sweep;

/// <summary>What a sweep shows while it runs: runs done of all, the current run's steps, and the time left.</summary>
internal interface ISweepProgress : IDisposable
{
    /// <summary>The sweep starts <paramref name="total"/> runs.</summary>
    void Start(int total);

    /// <summary>Run <paramref name="index"/> (1-based) starts.</summary>
    void RunStarted(int index, PlannedRun run);

    /// <summary>The current run recorded a step in its <c>metrics.jsonl</c>; <paramref name="eta"/> is the sweep's time left.</summary>
    void RunProgress(StepMetrics line, TimeSpan? eta);

    /// <summary>Run <paramref name="index"/> ended, or was skipped, with <paramref name="summary"/> saying how.</summary>
    void RunEnded(int index, PlannedRun run, string summary);

    /// <summary>Stops the display and leaves its last state on screen.</summary>
    void Complete();
}
