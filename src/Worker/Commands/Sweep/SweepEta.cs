using Adan.Sharded.Training.Progress;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The sweep's time left, counted in samples: every run has the same sample budget while its steps shrink as its batch
/// grows (a step-based ETA was off by 3x across a 256..8192 sweep). Runs side by side each add their samples, so the
/// rate is the sweep's, however many run at once.
/// </summary>
/// <remarks>Thread-safe: runs report from their own output readers.</remarks>
internal sealed class SweepEta(long samplesToDo, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<int, long> _running = [];
    private readonly long _started = time.GetTimestamp();
    private long _finished;

    /// <summary>Run <paramref name="index"/> has trained <paramref name="samples"/> samples; returns the sweep's time left.</summary>
    public TimeSpan? Update(int index, long samples)
    {
        lock (_gate)
        {
            _running[index] = samples;
            var done = _finished + _running.Values.Sum();
            return ProgressFormat.Eta(time.GetElapsedTime(_started), done, samplesToDo - done);
        }
    }

    /// <summary>Run <paramref name="index"/> ended; its whole budget counts as done, whether it finished, failed or was stopped.</summary>
    public void End(int index, long samples)
    {
        lock (_gate)
        {
            _running.Remove(index);
            _finished += samples;
        }
    }
}
