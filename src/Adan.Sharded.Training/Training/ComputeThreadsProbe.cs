using Adan.Sharded.Collectives;
using Adan.Sharded.Threading;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Sharded.Training;

/// <summary>
/// Checks that every step computed with the configured thread count on one thread: at each step's start it reads
/// OpenMP's and MKL's own thread counts on the thread running the step (<see cref="NativeThreadCounts"/>) and which
/// thread that is; at the end, the counts a thread the run did not bind starts with. Reported in <c>summary.json</c> as
/// <c>compute_threads</c>, the extremes over the ranks.
/// </summary>
/// <remarks>
/// A step that ran on a thread-pool thread after an <c>await</c> (the fault <see cref="ComputeThread"/> removes) shows
/// as more than one step thread and, without the process defaults, as MKL's all-cores count. Two native calls per step.
/// </remarks>
internal sealed class ComputeThreadsProbe(int configured, bool defaultsApplied)
{
    private readonly HashSet<int> _stepThreads = [];
    private int _min = int.MaxValue;
    private int _max = int.MinValue;

    /// <summary>Call at the start of every step, on the thread that runs it.</summary>
    public void Observe()
    {
        if (NativeThreadCounts.Range() is var (min, max))
        {
            _min = Math.Min(_min, min);
            _max = Math.Max(_max, max);
        }
        _stepThreads.Add(Environment.CurrentManagedThreadId);
    }

    /// <summary>What the ranks observed, each field the extreme over the ranks (null fields when no step ran).</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public ComputeThreadsSummary Summarize(ICollective collective)
    {
        var unbound = ThreadDefault();
        var stepped = _min <= _max;
        // Negated maxima so that one Min reduction gives both extremes; long.MaxValue stands for "not read".
        Span<long> values = [stepped ? _min : long.MaxValue, stepped ? -_max : long.MaxValue, -_stepThreads.Count,
            unbound?.Min ?? long.MaxValue, unbound is { } u ? -u.Max : long.MaxValue, defaultsApplied ? 1 : 0];
        collective.AllReduce(values, ReduceOp.Min);
        return new ComputeThreadsSummary(configured, Read(values[0]), Read(values[1], negated: true), (int)-values[2],
            Read(values[3]), Read(values[4], negated: true), values[5] == 1);
    }

    private static int? Read(long value, bool negated = false) => value == long.MaxValue ? null : (int)(negated ? -value : value);

    /// <summary>The thread counts of a new thread that nobody bound: the process defaults, read by the libraries at load.</summary>
    private static (int Min, int Max)? ThreadDefault()
    {
        (int Min, int Max)? counts = null;
        var thread = new Thread(() => counts = NativeThreadCounts.Range()) { Name = "adan-thread-default" };
        thread.Start();
        thread.Join();
        return counts;
    }
}
