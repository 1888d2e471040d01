using System.Globalization;
using Adan.Sharded.Collectives;

namespace Adan.MultiRank;

/// <summary>
/// <c>abort mpi|single CODE</c>: the last rank calls <see cref="ICollective.Abort"/> from a second thread while every
/// other rank waits in a barrier that cannot complete without it, as a rank does when the coordinator declares the job
/// failed. The job must end with CODE; the scenario's own exit codes (98, 99) mean the abort did not end it.
/// </summary>
internal static class AbortScenario
{
    public static int Run(string[] args)
    {
        var code = int.Parse(args[1], CultureInfo.InvariantCulture);
        using ICollective c = args[0] == "single" ? new SingleProcessCollective() : new MpiCollective();
        if (c.Rank != c.WorldSize - 1)
        {
            c.Barrier();
            Console.Error.WriteLine($"rank {c.Rank}: the barrier completed without the aborting rank");
            return 98;
        }
        var aborter = new Thread(() => c.Abort(code));
        aborter.Start();
        aborter.Join();
        Console.Error.WriteLine($"rank {c.Rank}: Abort returned");
        return 99;
    }
}
