using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Adan.Sharded.Mpi;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Collectives;

/// <summary>
/// <see cref="ICollective"/> over MPI (MPICH ABI) on <c>MPI_COMM_WORLD</c>, passing tensor memory
/// straight to MPI and using <c>MPI_IN_PLACE</c> wherever the operation allows.
/// </summary>
public sealed class MpiCollective : ICollective
{
    private readonly MpiRuntime _runtime;

    /// <summary>Initialises MPI (once per process) and wraps <c>MPI_COMM_WORLD</c>.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public MpiCollective()
    {
        _runtime = MpiRuntime.Initialize();
    }

    /// <inheritdoc />
    public int Rank => _runtime.Rank;

    /// <inheritdoc />
    public int WorldSize => _runtime.Size;

    /// <inheritdoc />
    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "MPI_Allreduce";
        TensorChecks.RequireReducible(tensor, operation, nameof(tensor));
        Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, TensorMemory.DataPointer(tensor), TensorChecks.Count(tensor, operation),
            Datatype(tensor), Op(op, tensor, operation), MpiNative.CommWorld), operation);
        FinishAverage(tensor, op);
    }

    /// <inheritdoc />
    public ICollectiveRequest AllReduceAsync(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "MPI_Iallreduce";
        TensorChecks.RequireReducible(tensor, operation, nameof(tensor));
        Check(MpiNative.MPI_Iallreduce(MpiNative.InPlace, TensorMemory.DataPointer(tensor), TensorChecks.Count(tensor, operation),
            Datatype(tensor), Op(op, tensor, operation), MpiNative.CommWorld, out var request), operation);
        return new Request(this, request, tensor, op);
    }

    /// <inheritdoc />
    public void ReduceScatter(torch.Tensor input, torch.Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "MPI_Reduce_scatter_block";
        TensorChecks.RequireReducible(input, operation, nameof(input));
        TensorChecks.RequireReducible(output, operation, nameof(output));
        TensorChecks.RequireSameDtype(input, output, operation);
        TensorChecks.RequireBlocks(input, output, WorldSize, operation, nameof(input), nameof(output));
        var count = TensorChecks.Count(output, operation);
        var mpiOp = Op(op, output, operation);
        if (TensorChecks.IsBlockOf(output, input, Rank))
        {
            // In place, MPI leaves rank r's block at the start of the buffer; move it to block r.
            Check(MpiNative.MPI_Reduce_scatter_block(MpiNative.InPlace, TensorMemory.DataPointer(input), count,
                Datatype(input), mpiOp, MpiNative.CommWorld), operation);
            if (Rank != 0)
            {
                using var flatInput = input.view(-1);
                using var first = flatInput.narrow(0, 0, count);
                using var flatOutput = output.view(-1);
                flatOutput.copy_(first);
            }
        }
        else
        {
            if (TensorChecks.Overlaps(input, output))
            {
                throw new ArgumentException($"{operation}: output overlaps input but is not block {Rank} of it; use a separate buffer or exactly that block.");
            }
            Check(MpiNative.MPI_Reduce_scatter_block(TensorMemory.DataPointer(input), TensorMemory.DataPointer(output), count,
                Datatype(input), mpiOp, MpiNative.CommWorld), operation);
        }
        FinishAverage(output, op);
    }

    /// <inheritdoc />
    public unsafe ICollectiveRequest ReduceScatterAsync(torch.Tensor buffer, int[] counts, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "MPI_Ireduce_scatter";
        TensorChecks.RequireReducible(buffer, operation, nameof(buffer));
        TensorChecks.RequireCounts(buffer, counts, WorldSize, operation);
        var mpiOp = Op(op, buffer, operation);
        var offset = 0L;
        for (var q = 0; q < Rank; q++)
        {
            offset += counts[q];
        }
        // MPI reads the counts until the operation completes: they stay pinned until then.
        var pin = GCHandle.Alloc(counts, GCHandleType.Pinned);
        int request;
        try
        {
            Check(MpiNative.MPI_Ireduce_scatter(MpiNative.InPlace, TensorMemory.DataPointer(buffer), (int*)pin.AddrOfPinnedObject(),
                Datatype(buffer), mpiOp, MpiNative.CommWorld, out request), operation);
        }
        catch
        {
            pin.Free();
            throw;
        }
        return new ReduceScatterRequest(this, request, pin, buffer, offset, counts[Rank], op);
    }

    /// <inheritdoc />
    public void AllGather(torch.Tensor input, torch.Tensor output)
    {
        const string operation = "MPI_Allgather";
        TensorChecks.RequireReducible(input, operation, nameof(input));
        TensorChecks.RequireReducible(output, operation, nameof(output));
        TensorChecks.RequireSameDtype(input, output, operation);
        TensorChecks.RequireBlocks(output, input, WorldSize, operation, nameof(output), nameof(input));
        var count = TensorChecks.Count(input, operation);
        var type = Datatype(input);
        if (TensorChecks.IsBlockOf(input, output, Rank))
        {
            Check(MPI.Unsafe.MPI_Allgather(MpiNative.InPlace, 0, type, TensorMemory.DataPointer(output), count, type, MpiNative.CommWorld), operation);
        }
        else
        {
            if (TensorChecks.Overlaps(input, output))
            {
                throw new ArgumentException($"{operation}: input overlaps output but is not block {Rank} of it; use a separate buffer or exactly that block.");
            }
            Check(MPI.Unsafe.MPI_Allgather(TensorMemory.DataPointer(input), count, type, TensorMemory.DataPointer(output), count, type,
                MpiNative.CommWorld), operation);
        }
    }

    /// <inheritdoc />
    public void Broadcast(torch.Tensor tensor, int root = 0)
    {
        const string operation = "MPI_Bcast";
        TensorChecks.RequireContiguous(tensor, operation, nameof(tensor));
        if (root < 0 || root >= WorldSize)
        {
            throw new ArgumentOutOfRangeException(nameof(root), root, $"{operation}: root must be in [0, {WorldSize}).");
        }
        var bytes = tensor.numel() * tensor.ElementSize;
        if (bytes > int.MaxValue)
        {
            throw new ArgumentException($"{operation}: {bytes} bytes exceed MPI's count limit of {int.MaxValue}; split the buffer.");
        }
        Check(MPI.Unsafe.MPI_Bcast(TensorMemory.DataPointer(tensor), (int)bytes, MpiNative.Byte, root, MpiNative.CommWorld), operation);
    }

    /// <inheritdoc />
    public void Barrier() => Check(MPI.Unsafe.MPI_Barrier(MpiNative.CommWorld), "MPI_Barrier");

    /// <inheritdoc />
    public void SleepingBarrier()
    {
        Check(MpiNative.MPI_Ibarrier(MpiNative.CommWorld, out var request), "MPI_Ibarrier");
        while (true)
        {
            Check(MpiNative.MPI_Test(ref request, out var done, out _), "MPI_Test");
            if (done != 0)
            {
                return;
            }
            Thread.Sleep(1);
        }
    }

    /// <inheritdoc />
    public unsafe double AllReduce(double value, ReduceOp op = ReduceOp.Sum)
    {
        var result = value;
        Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, (IntPtr)(&result), 1, MpiNative.Double, ScalarOp(op), MpiNative.CommWorld), "MPI_Allreduce");
        return op == ReduceOp.Average ? result / WorldSize : result;
    }

    /// <inheritdoc />
    public unsafe void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum)
    {
        fixed (double* p = values)
        {
            Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, (IntPtr)p, values.Length, MpiNative.Double, ScalarOp(op), MpiNative.CommWorld), "MPI_Allreduce");
        }
        if (op == ReduceOp.Average)
        {
            foreach (ref var v in values)
            {
                v /= WorldSize;
            }
        }
    }

    /// <inheritdoc />
    public unsafe void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum)
    {
        if (op == ReduceOp.Average)
        {
            throw new ArgumentException("MPI_Allreduce: Average is not defined for integers; use Sum and divide.", nameof(op));
        }
        fixed (long* p = values)
        {
            Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, (IntPtr)p, values.Length, MpiNative.Long, ScalarOp(op), MpiNative.CommWorld), "MPI_Allreduce");
        }
    }

    /// <inheritdoc />
    /// <remarks>MPI_Abort on <c>MPI_COMM_WORLD</c>: the launcher ends every rank and exits with <paramref name="errorCode"/>.</remarks>
    [DoesNotReturn]
    public void Abort(int errorCode)
    {
        _runtime.Abort(errorCode);
        // The standard asks MPI_Abort only for a best attempt; should it come back, this process still ends as promised.
        Environment.Exit(errorCode);
    }

    /// <summary>Finalises MPI.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void Dispose() => _runtime.Dispose();

    private void Check(int code, string operation) => MpiRuntime.Check(code, operation, Rank);

    private void FinishAverage(torch.Tensor tensor, ReduceOp op)
    {
        if (op == ReduceOp.Average && WorldSize > 1)
        {
            tensor.div_(WorldSize);
        }
    }

    private static int Datatype(torch.Tensor tensor) => tensor.dtype switch
    {
        torch.ScalarType.Float32 => MpiNative.Float,
        torch.ScalarType.Float64 => MpiNative.Double,
        torch.ScalarType.Int32 => MpiNative.Int,
        torch.ScalarType.Int64 => MpiNative.Long,
        _ => throw new ArgumentException($"dtype {tensor.dtype} is not supported by the MPI backend."),
    };

    private static int Op(ReduceOp op, torch.Tensor tensor, string operation)
    {
        if (op == ReduceOp.Average && !tensor.is_floating_point())
        {
            throw new ArgumentException($"{operation}: Average needs a floating-point tensor, got {tensor.dtype}; use Sum and divide.");
        }
        return ScalarOp(op);
    }

    private static int ScalarOp(ReduceOp op) => op switch
    {
        ReduceOp.Sum or ReduceOp.Average => MpiNative.OpSum,
        ReduceOp.Max => MpiNative.OpMax,
        ReduceOp.Min => MpiNative.OpMin,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown reduction"),
    };

    private sealed class Request(MpiCollective owner, int handle, torch.Tensor tensor, ReduceOp op) : ICollectiveRequest
    {
        private int _handle = handle;

        public void Wait()
        {
            if (_handle == MpiNative.RequestNull)
            {
                return;
            }
            owner.Check(MpiNative.MPI_Wait(ref _handle, out _), "MPI_Wait(MPI_Iallreduce)");
            owner.FinishAverage(tensor, op);
        }

        public bool Test()
        {
            if (_handle == MpiNative.RequestNull)
            {
                return true;
            }
            owner.Check(MpiNative.MPI_Test(ref _handle, out var done, out _), "MPI_Test(MPI_Iallreduce)");
            if (done == 0)
            {
                return false;
            }
            owner.FinishAverage(tensor, op);
            return true;
        }
    }

    /// <summary>
    /// An in-place <c>MPI_Ireduce_scatter</c>: MPI leaves this rank's block at the start of the buffer, so completion
    /// moves it to the block's own offset (the two may overlap; the span copy handles that) and unpins the counts.
    /// </summary>
    private sealed class ReduceScatterRequest(MpiCollective owner, int handle, GCHandle counts, torch.Tensor buffer, long offset, int count,
        ReduceOp op) : ICollectiveRequest
    {
        private int _handle = handle;
        private GCHandle _counts = counts;

        public void Wait()
        {
            if (_handle == MpiNative.RequestNull)
            {
                return;
            }
            owner.Check(MpiNative.MPI_Wait(ref _handle, out _), "MPI_Wait(MPI_Ireduce_scatter)");
            Complete();
        }

        public bool Test()
        {
            if (_handle == MpiNative.RequestNull)
            {
                return true;
            }
            owner.Check(MpiNative.MPI_Test(ref _handle, out var done, out _), "MPI_Test(MPI_Ireduce_scatter)");
            if (done == 0)
            {
                return false;
            }
            Complete();
            return true;
        }

        private unsafe void Complete()
        {
            _counts.Free();
            if (count == 0)
            {
                return;
            }
            var elementSize = buffer.ElementSize;
            var start = (byte*)TensorMemory.DataPointer(buffer);
            if (offset > 0)
            {
                Buffer.MemoryCopy(start, start + offset * elementSize, (long)count * elementSize, (long)count * elementSize);
            }
            if (op == ReduceOp.Average && owner.WorldSize > 1)
            {
                using var block = buffer.narrow(0, offset, count);
                block.div_(owner.WorldSize);
            }
        }
    }
}
