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
/// <remarks>
/// MPI counts are <c>int</c>; tensors are not. Every count goes through one plan, <see cref="Chunks"/>: up to
/// <see cref="ChunkPlan.MpiElements"/> elements a collective is the one MPI call it always was; beyond, it is issued
/// chunk by chunk (all-reduce, broadcast), and a reduce-scatter or all-gather whose block exceeds one count becomes,
/// per chunk of the block, one <c>MPI_Reduce</c> or <c>MPI_Bcast</c> rooted at each rank in turn. (A derived
/// contiguous datatype would keep one call, but MPI defines its predefined reductions on predefined datatypes only.)
/// </remarks>
public sealed partial class MpiCollective : ICollective
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
    /// <remarks>MPI moves host memory: always the CPU.</remarks>
    public torch.Device Device => torch.CPU;

    /// <summary>The most elements (bytes for <see cref="Broadcast"/>) one MPI call carries; tests lower it to run the chunked paths on small tensors.</summary>
    internal int MaxCount { get; init; } = ChunkPlan.MpiElements;

    /// <inheritdoc />
    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "MPI_Allreduce";
        TensorChecks.RequireReducible(tensor, operation, nameof(tensor));
        var data = TensorMemory.DataPointer(tensor);
        var type = Datatype(tensor);
        var mpiOp = Op(op, tensor, operation);
        foreach (var chunk in Chunks(tensor.numel()))
        {
            Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, At(data, chunk.Start, tensor), chunk.Length, type, mpiOp, MpiNative.CommWorld), operation);
        }
        FinishAverage(tensor, op);
    }

    /// <inheritdoc />
    public ICollectiveRequest AllReduceAsync(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "MPI_Iallreduce";
        TensorChecks.RequireReducible(tensor, operation, nameof(tensor));
        var data = TensorMemory.DataPointer(tensor);
        var type = Datatype(tensor);
        var mpiOp = Op(op, tensor, operation);
        var chunks = Chunks(tensor.numel());
        var requests = new int[chunks.Count];
        var i = 0;
        foreach (var chunk in chunks)
        {
            Check(MpiNative.MPI_Iallreduce(MpiNative.InPlace, At(data, chunk.Start, tensor), chunk.Length, type, mpiOp, MpiNative.CommWorld,
                out requests[i++]), operation);
        }
        return new Request(this, requests, tensor, op);
    }

    /// <inheritdoc />
    public void ReduceScatter(torch.Tensor input, torch.Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "MPI_Reduce_scatter_block";
        TensorChecks.RequireReducible(input, operation, nameof(input));
        TensorChecks.RequireReducible(output, operation, nameof(output));
        TensorChecks.RequireSameDtype(input, output, operation);
        TensorChecks.RequireBlocks(input, output, WorldSize, operation, nameof(input), nameof(output));
        var mpiOp = Op(op, output, operation);
        if (output.numel() > MaxCount)
        {
            ReduceScatterInChunks(input, output, mpiOp);
            FinishAverage(output, op);
            return;
        }
        var count = (int)output.numel();
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

    // Block r of the sum, chunk by chunk of the block: one MPI_Reduce per rank, rooted at the rank that owns the block.
    private void ReduceScatterInChunks(torch.Tensor input, torch.Tensor output, int mpiOp)
    {
        const string operation = "MPI_Reduce (reduce-scatter in chunks)";
        var inPlace = TensorChecks.IsBlockOf(output, input, Rank);
        if (!inPlace && TensorChecks.Overlaps(input, output))
        {
            throw new ArgumentException($"MPI_Reduce_scatter_block: output overlaps input but is not block {Rank} of it; use a separate buffer or exactly that block.");
        }
        var count = output.numel();
        var source = TensorMemory.DataPointer(input);
        var target = TensorMemory.DataPointer(output);
        var type = Datatype(input);
        foreach (var chunk in Chunks(count))
        {
            for (var root = 0; root < WorldSize; root++)
            {
                var send = At(source, root * count + chunk.Start, input);
                var code = root == Rank
                    ? MpiNative.MPI_Reduce(inPlace ? MpiNative.InPlace : send, At(target, chunk.Start, output), chunk.Length, type, mpiOp, root, MpiNative.CommWorld)
                    : MpiNative.MPI_Reduce(send, IntPtr.Zero, chunk.Length, type, mpiOp, root, MpiNative.CommWorld);
                Check(code, operation);
            }
        }
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
        if (buffer.numel() * buffer.ElementSize >= PairwiseReduceScatterBytes && OwnedFirstAboveRankZero(counts))
        {
            return ReduceToOwnersAsync(buffer, counts, mpiOp, op, offset);
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

    /// <summary>
    /// Half of MPICH's default <c>MPIR_CVAR_REDUCE_SCATTER_COMMUTATIVE_LONG_MSG_SIZE</c> (512 KiB), from which it
    /// reduce-scatters pairwise. Smaller buffers keep the one reduce-scatter (recursive halving, whose in-place result
    /// goes through a temporary buffer), so their sums associate at W ≥ 3 as the blocking reduce-scatter's do.
    /// </summary>
    private const long PairwiseReduceScatterBytes = 256 * 1024;

    /// <summary>
    /// Whether the first rank with a part of the buffer is not rank 0. MPICH's pairwise reduce-scatter (its choice for
    /// large buffers) then ends, on that rank, by moving the in-place result from its displacement, 0, to the buffer's
    /// start: a copy onto itself, which MPICH's error checks abort ("memcpy argument memory ranges overlap").
    /// </summary>
    private static bool OwnedFirstAboveRankZero(int[] counts)
    {
        for (var q = 0; q < counts.Length; q++)
        {
            if (counts[q] > 0)
            {
                return q > 0;
            }
        }
        return false;
    }

    /// <summary>
    /// The reduce-scatter as one nonblocking <c>MPI_Ireduce</c> per rank with a part, rooted at that rank and in place
    /// there, so each part's sums land at their own offset (a bucket inside one rank's shard is a single reduce).
    /// </summary>
    private unsafe ICollectiveRequest ReduceToOwnersAsync(torch.Tensor buffer, int[] counts, int mpiOp, ReduceOp op, long offset)
    {
        const string operation = "MPI_Ireduce";
        var owners = 0;
        foreach (var count in counts)
        {
            owners += count > 0 ? 1 : 0;
        }
        var handles = new int[owners];
        var start = TensorMemory.DataPointer(buffer);
        var type = Datatype(buffer);
        var displacement = 0L;
        var h = 0;
        for (var q = 0; q < counts.Length; q++)
        {
            if (counts[q] > 0)
            {
                var part = start + (nint)(displacement * buffer.ElementSize);
                Check(MpiNative.MPI_Ireduce(q == Rank ? MpiNative.InPlace : part, part, counts[q], type, mpiOp, q, MpiNative.CommWorld,
                    out handles[h++]), operation);
            }
            displacement += counts[q];
        }
        return op == ReduceOp.Average && counts[Rank] > 0
            ? new Request(this, handles, buffer.narrow(0, offset, counts[Rank]), op)
            : new Request(this, handles, buffer, ReduceOp.Sum);
    }

    /// <inheritdoc />
    public void AllGather(torch.Tensor input, torch.Tensor output)
    {
        const string operation = "MPI_Allgather";
        TensorChecks.RequireReducible(input, operation, nameof(input));
        TensorChecks.RequireReducible(output, operation, nameof(output));
        TensorChecks.RequireSameDtype(input, output, operation);
        TensorChecks.RequireBlocks(output, input, WorldSize, operation, nameof(output), nameof(input));
        var type = Datatype(input);
        if (input.numel() > MaxCount)
        {
            AllGatherInChunks(input, output, type);
            return;
        }
        var count = (int)input.numel();
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

    // Every block, chunk by chunk: each rank puts its own block in place, then broadcasts it from there.
    private unsafe void AllGatherInChunks(torch.Tensor input, torch.Tensor output, int type)
    {
        const string operation = "MPI_Bcast (all-gather in chunks)";
        var count = input.numel();
        var target = TensorMemory.DataPointer(output);
        if (!TensorChecks.IsBlockOf(input, output, Rank))
        {
            if (TensorChecks.Overlaps(input, output))
            {
                throw new ArgumentException($"MPI_Allgather: input overlaps output but is not block {Rank} of it; use a separate buffer or exactly that block.");
            }
            var bytes = count * input.ElementSize;
            Buffer.MemoryCopy((void*)TensorMemory.DataPointer(input), (void*)At(target, Rank * count, output), bytes, bytes);
        }
        foreach (var chunk in Chunks(count))
        {
            for (var root = 0; root < WorldSize; root++)
            {
                Check(MPI.Unsafe.MPI_Bcast(At(target, root * count + chunk.Start, output), chunk.Length, type, root, MpiNative.CommWorld), operation);
            }
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
        var data = TensorMemory.DataPointer(tensor);
        foreach (var chunk in Chunks(tensor.numel() * tensor.ElementSize))
        {
            Check(MPI.Unsafe.MPI_Bcast(data + (nint)chunk.Start, chunk.Length, MpiNative.Byte, root, MpiNative.CommWorld), operation);
        }
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
        if (WorldSize > 1)
        {
            _runtime.Abort(errorCode);
        }
        // One rank has no other to bring down, and MPICH's MPI_Abort ends it with C exit(), whose atexit handlers and static
        // destructors ran beside the .NET threads still running (a segfault, exit 11, seen under load). The standard asks
        // MPI_Abort only for a best attempt; should it come back, this process still ends as promised. Either way it ends
        // at once with the code (_exit), nothing else running.
        Console.Out.Flush();
        Console.Error.Flush();
        ExitNow(errorCode);
        throw new System.Diagnostics.UnreachableException();
    }

    /// <summary>libc's <c>_exit</c>: no atexit handlers, no runtime shutdown, no MPI_Finalize; the kernel closes what is open.</summary>
    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitNow(int status);

    /// <summary>Finalises MPI.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void Dispose() => _runtime.Dispose();

    private void Check(int code, string operation) => MpiRuntime.Check(code, operation, Rank);

    /// <summary>The MPI calls a collective of <paramref name="count"/> elements takes: one unless it exceeds <see cref="MaxCount"/>.</summary>
    private ChunkPlan Chunks(long count) => ChunkPlan.ForMpi(count, MaxCount);

    /// <summary>The address of element <paramref name="element"/> of <paramref name="tensor"/>'s memory at <paramref name="data"/>.</summary>
    private static IntPtr At(IntPtr data, long element, torch.Tensor tensor) => data + (nint)(element * tensor.ElementSize);

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
        // MPI has no bf16: the bytes travel as 16-bit words and BFloat16Sum adds them.
        torch.ScalarType.BFloat16 => MpiNative.UnsignedShort,
        _ => throw new ArgumentException($"dtype {tensor.dtype} is not supported by the MPI backend."),
    };

    private static int Op(ReduceOp op, torch.Tensor tensor, string operation)
    {
        if (op == ReduceOp.Average && !tensor.is_floating_point())
        {
            throw new ArgumentException($"{operation}: Average needs a floating-point tensor, got {tensor.dtype}; use Sum and divide.");
        }
        if (tensor.dtype == torch.ScalarType.BFloat16)
        {
            return op is ReduceOp.Sum or ReduceOp.Average
                ? BFloat16Sum.Op
                : throw new ArgumentException($"{operation}: the MPI backend sums BFloat16 tensors only (Sum or Average), not {op}.");
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

    // One MPI request per chunk of the tensor (one, unless it exceeds MaxCount).
    private sealed class Request(MpiCollective owner, int[] handles, torch.Tensor tensor, ReduceOp op) : ICollectiveRequest
    {
        private bool _done;

        public void Wait()
        {
            if (_done)
            {
                return;
            }
            for (var i = 0; i < handles.Length; i++)
            {
                if (handles[i] != MpiNative.RequestNull)
                {
                    owner.Check(MpiNative.MPI_Wait(ref handles[i], out _), "MPI_Wait(MPI_Iallreduce)");
                }
            }
            _done = true;
            owner.FinishAverage(tensor, op);
        }

        public bool Test()
        {
            if (_done)
            {
                return true;
            }
            // MPI_Test sets a completed handle to MPI_REQUEST_NULL, so chunks already done are skipped next time.
            for (var i = 0; i < handles.Length; i++)
            {
                if (handles[i] == MpiNative.RequestNull)
                {
                    continue;
                }
                owner.Check(MpiNative.MPI_Test(ref handles[i], out var done, out _), "MPI_Test(MPI_Iallreduce)");
                if (done == 0)
                {
                    return false;
                }
            }
            _done = true;
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
