using Adan.Sharded.Collectives;
using Adan.Sharded.Threading;
using Adan.Worker.Telemetry;

namespace Adan.Worker.Training;

/// <summary>
/// Checks that every step computed with the configured thread count on one thread: at each step's start it reads the
/// torch thread count of the thread running the step and which thread that is; at the end, the default a thread the
/// run did not bind starts with. Reported in <c>summary.json</c> as <c>compute_threads</c>, the extremes over the ranks.
/// </summary>
/// <remarks>
/// A step that ran on a thread-pool thread after an <c>await</c> (the fault <see cref="ComputeThread"/> removes) shows
/// as a count other than the configured one and as more than one step thread. One <c>omp_get_max_threads</c> per step.
/// </remarks>
internal sealed class ComputeThreadsProbe(int configured, bool defaultsApplied)
{
    private readonly HashSet<int> _stepThreads = [];
    private int _min = int.MaxValue;
    private int _max = int.MinValue;

    /// <summary>Call at the start of every step, on the thread that runs it.</summary>
    public void Observe()
    {
        var threads = ComputeThread.CurrentTorchThreads();
        _min = Math.Min(_min, threads);
        _max = Math.Max(_max, threads);
        _stepThreads.Add(Environment.CurrentManagedThreadId);
    }

    /// <summary>What the ranks observed, each field the extreme over the ranks (null fields when no step ran).</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public ComputeThreadsSummary Summarize(ICollective collective)
    {
        var unbound = ThreadDefault();
        // Negated maxima so that one Min reduction gives both extremes.
        Span<long> values = [_stepThreads.Count > 0 ? _min : long.MaxValue, _stepThreads.Count > 0 ? -_max : long.MaxValue,
            -_stepThreads.Count, unbound, -unbound, defaultsApplied ? 1 : 0];
        collective.AllReduce(values, ReduceOp.Min);
        var stepped = values[0] != long.MaxValue;
        return new ComputeThreadsSummary(configured, stepped ? (int)values[0] : null, stepped ? (int)-values[1] : null, (int)-values[2],
            (int)values[3], (int)-values[4], values[5] == 1);
    }

    /// <summary>The torch thread count of a thread that nobody bound: the process default (OpenMP reads it at load).</summary>
    private static int ThreadDefault()
    {
        var threads = 0;
        var thread = new Thread(() => threads = ComputeThread.CurrentTorchThreads()) { Name = "adan-thread-default" };
        thread.Start();
        thread.Join();
        return threads;
    }
}
