using System.Diagnostics.CodeAnalysis;
using Adan.Sharded.Collectives;
using TorchSharp;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// W ranks as W threads of one process, for tests of decisions made across ranks without MPI: the broadcast and the
/// all-reduces of small arrays (what agreement code uses) exchange through shared slots between two barriers. The bulk
/// tensor collectives are not needed by those tests and say so.
/// </summary>
internal sealed class ThreadCollective : ICollective
{
    private readonly Group _group;

    private ThreadCollective(Group group, int rank)
    {
        _group = group;
        Rank = rank;
    }

    public int Rank { get; }

    public int WorldSize => _group.Slots.Length;

    public torch.Device Device => torch.CPU;

    /// <summary>Runs <paramref name="body"/> on <paramref name="worldSize"/> threads, one rank each, and returns each rank's result or exception.</summary>
    public static (T? Result, Exception? Error)[] Run<T>(int worldSize, Func<ICollective, T> body)
    {
        var group = new Group(worldSize);
        var outcomes = new (T?, Exception?)[worldSize];
        var threads = Enumerable.Range(0, worldSize).Select(rank => new Thread(() =>
        {
            try
            {
                outcomes[rank] = (body(new ThreadCollective(group, rank)), null);
            }
            catch (Exception e)
            {
                outcomes[rank] = (default, e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        foreach (var thread in threads)
        {
            // A rank left waiting for a peer that never calls would be a hang: fail instead.
            Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "a rank did not finish: the ranks disagreed on the collectives to call");
        }
        return outcomes;
    }

    public void Broadcast(torch.Tensor tensor, int root = 0)
    {
        if (Rank == root)
        {
            _group.Slots[root] = tensor.bytes.ToArray();
        }
        _group.Barrier.SignalAndWait();
        if (Rank != root)
        {
            tensor.bytes = (byte[])_group.Slots[root]!;
        }
        _group.Barrier.SignalAndWait();
    }

    public void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum)
    {
        RequireSum(op);
        _group.Slots[Rank] = values.ToArray();
        _group.Barrier.SignalAndWait();
        values.Clear();
        foreach (long[] slot in _group.Slots.Cast<long[]>())
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] += slot[i];
            }
        }
        _group.Barrier.SignalAndWait();
    }

    public void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum)
    {
        RequireSum(op);
        _group.Slots[Rank] = values.ToArray();
        _group.Barrier.SignalAndWait();
        values.Clear();
        foreach (double[] slot in _group.Slots.Cast<double[]>())
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] += slot[i];
            }
        }
        _group.Barrier.SignalAndWait();
    }

    public double AllReduce(double value, ReduceOp op = ReduceOp.Sum)
    {
        Span<double> one = [value];
        AllReduce(one, op);
        return one[0];
    }

    public void Barrier() => _group.Barrier.SignalAndWait();

    public void SleepingBarrier() => _group.Barrier.SignalAndWait();

    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum) => throw Unneeded();

    public ICollectiveRequest AllReduceAsync(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum) => throw Unneeded();

    public void ReduceScatter(torch.Tensor input, torch.Tensor output, ReduceOp op = ReduceOp.Sum) => throw Unneeded();

    public ICollectiveRequest ReduceScatterAsync(torch.Tensor buffer, int[] counts, ReduceOp op = ReduceOp.Sum) => throw Unneeded();

    public void AllGather(torch.Tensor input, torch.Tensor output) => throw Unneeded();

    [DoesNotReturn]
    public void Abort(int errorCode) => throw new InvalidOperationException($"rank {Rank} aborted the job with exit code {errorCode}");

    public void Dispose()
    {
    }

    private static void RequireSum(ReduceOp op)
    {
        if (op != ReduceOp.Sum)
        {
            throw new NotSupportedException($"ThreadCollective reduces with Sum only, not {op}.");
        }
    }

    private static NotSupportedException Unneeded() => new("ThreadCollective exchanges small arrays and broadcasts only.");

    private sealed class Group(int worldSize)
    {
        public Barrier Barrier { get; } = new(worldSize);

        public object?[] Slots { get; } = new object?[worldSize];
    }
}
