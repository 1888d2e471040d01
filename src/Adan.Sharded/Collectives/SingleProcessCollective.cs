using System.Diagnostics.CodeAnalysis;
using TorchSharp;

namespace Adan.Sharded.Collectives;

/// <summary>
/// <see cref="ICollective"/> for one process (W = 1): reductions are identities, so a program runs
/// unchanged without MPI. Arguments are checked as the MPI backend checks them, on any device (one GPU needs no NCCL).
/// </summary>
public sealed class SingleProcessCollective : ICollective
{
    private static readonly ICollectiveRequest s_done = new Completed();

    /// <summary>A one-process collective for buffers on <paramref name="device"/> (the CPU when null).</summary>
    public SingleProcessCollective(torch.Device? device = null) => Device = device ?? torch.CPU;

    /// <inheritdoc />
    public int Rank => 0;

    /// <inheritdoc />
    public int WorldSize => 1;

    /// <inheritdoc />
    public torch.Device Device { get; }

    /// <inheritdoc />
    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum) => RequireReducible(tensor, "AllReduce", nameof(tensor));

    /// <inheritdoc />
    public ICollectiveRequest AllReduceAsync(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        RequireReducible(tensor, "AllReduceAsync", nameof(tensor));
        return s_done;
    }

    /// <inheritdoc />
    public void ReduceScatter(torch.Tensor input, torch.Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        CheckPair(input, output, "ReduceScatter");
        CopyUnlessSame(input, output);
    }

    /// <inheritdoc />
    public ICollectiveRequest ReduceScatterAsync(torch.Tensor buffer, int[] counts, ReduceOp op = ReduceOp.Sum)
    {
        TensorChecks.RequireReducible(buffer, "ReduceScatterAsync", nameof(buffer));
        TensorChecks.RequireCounts(buffer, counts, 1, "ReduceScatterAsync");
        return s_done;
    }

    /// <inheritdoc />
    public void AllGather(torch.Tensor input, torch.Tensor output)
    {
        CheckPair(output, input, "AllGather");
        CopyUnlessSame(input, output);
    }

    /// <inheritdoc />
    public void Broadcast(torch.Tensor tensor, int root = 0)
    {
        TensorChecks.RequireContiguousOnAnyDevice(tensor, "Broadcast", nameof(tensor));
        if (root != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(root), root, "Broadcast: root must be 0 with one process.");
        }
    }

    /// <inheritdoc />
    public void Barrier()
    {
    }

    /// <inheritdoc />
    public void SleepingBarrier()
    {
    }

    /// <inheritdoc />
    public double AllReduce(double value, ReduceOp op = ReduceOp.Sum) => value;

    /// <inheritdoc />
    public void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum)
    {
    }

    /// <inheritdoc />
    public void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum)
    {
        if (op == ReduceOp.Average)
        {
            throw new ArgumentException("AllReduce: Average is not defined for integers; use Sum and divide.", nameof(op));
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The job is this process, so it exits with <paramref name="errorCode"/> through <see cref="Environment.Exit"/>: unlike
    /// <see cref="Environment.FailFast(string)"/> it keeps the exit code and runs the process-exit handlers, as a job ended
    /// by MPI_Abort reports the code it was given.
    /// </remarks>
    [DoesNotReturn]
    public void Abort(int errorCode) => Environment.Exit(errorCode);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static void CheckPair(torch.Tensor whole, torch.Tensor block, string operation)
    {
        RequireReducible(whole, operation, "whole");
        RequireReducible(block, operation, "block");
        TensorChecks.RequireSameDtype(whole, block, operation);
        TensorChecks.RequireBlocks(whole, block, 1, operation, "input", "output");
    }

    private static void CopyUnlessSame(torch.Tensor source, torch.Tensor destination)
    {
        if (!TensorChecks.IsBlockOf(destination, source, 0))
        {
            destination.copy_(source.view(destination.shape));
        }
    }

    private static void RequireReducible(torch.Tensor tensor, string operation, string what)
    {
        TensorChecks.RequireContiguousOnAnyDevice(tensor, operation, what);
        TensorChecks.RequireReducibleDtype(tensor, operation, what);
    }

    private sealed class Completed : ICollectiveRequest
    {
        public void Wait()
        {
        }

        public bool Test() => true;
    }
}
