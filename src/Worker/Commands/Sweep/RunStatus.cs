namespace Adan.Worker.Commands.Sweep;

/// <summary>Where one run of a sweep stands; only <see cref="Finished"/> runs are skipped when the sweep is run again.</summary>
internal enum RunStatus
{
    /// <summary>Not started (the sweep was stopped before it).</summary>
    Pending,

    /// <summary>Trained and evaluated; its summary's numbers are in the result.</summary>
    Finished,

    /// <summary>The launch failed; the result holds the last lines it wrote to stderr.</summary>
    Failed,

    /// <summary>Stopped by SIGINT or SIGTERM while it ran.</summary>
    Interrupted,
}
