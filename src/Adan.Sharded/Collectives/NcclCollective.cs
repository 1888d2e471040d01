using System.Diagnostics.CodeAnalysis;
using Adan.Sharded.Cuda;
using Adan.Sharded.Nccl;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Collectives;

/// <summary>
/// <see cref="ICollective"/> whose tensor collectives run over NCCL on device memory, with a control collective (MPI)
/// for what NCCL does not do: the unique id's exchange, scalars, barriers and the abort.
/// </summary>
/// <remarks>
/// <para>
/// Ordering with the compute: TorchSharp 0.107 exposes no CUDA stream API and never sets a current stream, so every
/// torch kernel runs on the device's legacy default stream. Each NCCL call is enqueued on that same stream (stream
/// handle 0), after the kernels that produced its buffers and before those that consume them, without a host
/// synchronisation; a host read of a result (<c>.item()</c>, <c>.cpu()</c>) waits for it as for any kernel. The methods
/// return once the work is enqueued, and a nonblocking request's <see cref="ICollectiveRequest.Wait"/> has nothing
/// left to wait for on the host.
/// </para>
/// <para>
/// NCCL works on CUDA tensors of the communicator's device only. CPU tensors are accepted only by the host-memory
/// stand-in the tests build (tests/NcclStandIn), which runs every call synchronously over MPI.
/// </para>
/// </remarks>
public sealed unsafe class NcclCollective : ICollective
{
    private const int NcclUint8 = 1;
    private const int NcclInt32 = 2;
    private const int NcclInt64 = 4;
    private const int NcclFloat32 = 7;
    private const int NcclFloat64 = 8;
    private const int NcclBfloat16 = 9;
    private const int NcclSum = 0;
    private const int NcclMax = 2;
    private const int NcclMin = 3;
    private const int NcclAvg = 4;

    private static readonly ICollectiveRequest s_enqueued = new Enqueued();
    private static readonly IntPtr s_defaultStream = IntPtr.Zero;

    private readonly ICollective _control;
    private readonly NcclLibrary _nccl;
    private readonly torch.Device _device;
    private IntPtr _comm;

    /// <summary>
    /// Creates one NCCL communicator over the ranks of <paramref name="control"/> for tensors on <paramref name="device"/>:
    /// rank 0 creates the unique id, <paramref name="control"/> broadcasts it, every rank joins with
    /// <c>ncclCommInitRank</c>. Takes ownership of <paramref name="control"/>.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    /// <exception cref="NcclLibraryException">NCCL is missing or too old, or <paramref name="device"/> is the CPU and the library is NVIDIA's NCCL.</exception>
    /// <exception cref="NcclException">An NCCL call failed; the message has NCCL's text and the rank.</exception>
    public NcclCollective(ICollective control, torch.Device device)
    {
        ArgumentNullException.ThrowIfNull(control);
        ArgumentNullException.ThrowIfNull(device);
        _control = control;
        _device = device;
        _nccl = NcclLibrary.Load();
        if (device.type == DeviceType.CUDA)
        {
            CudaDriver.MakeCurrent(Math.Max(0, device.index));
        }
        else if (device.type != DeviceType.CPU || !_nccl.IsStandIn)
        {
            throw new NcclLibraryException(
                $"collective=nccl works on CUDA tensors and the model is on {device}; use device=cuda (a CUDA build, -p:TorchBackend=cuda) or collective=mpi.");
        }
        _comm = Join(control);
    }

    /// <summary>The library in use, e.g. <c>libnccl.so.2</c>, and its version.</summary>
    public string LibraryDescription => $"{_nccl.Name} (NCCL {NcclLibrary.FormatVersion(_nccl.Version)}{(_nccl.IsStandIn ? ", host-memory stand-in" : string.Empty)})";

    /// <inheritdoc />
    public torch.Device Device => _device;

    /// <inheritdoc />
    public int Rank => _control.Rank;

    /// <inheritdoc />
    public int WorldSize => _control.WorldSize;

    /// <inheritdoc />
    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "ncclAllReduce";
        RequireReducible(tensor, operation, nameof(tensor));
        var pointer = TensorMemory.DataPointer(tensor);
        Check(_nccl.AllReduce(pointer, pointer, (nuint)tensor.numel(), Datatype(tensor), Op(op, tensor, operation), Comm, s_defaultStream), operation);
    }

    /// <inheritdoc />
    /// <remarks>Enqueued on the stream like <see cref="AllReduce(torch.Tensor, ReduceOp)"/>; the request's wait returns at once.</remarks>
    public ICollectiveRequest AllReduceAsync(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        AllReduce(tensor, op);
        return s_enqueued;
    }

    /// <inheritdoc />
    public void ReduceScatter(torch.Tensor input, torch.Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "ncclReduceScatter";
        RequireReducible(input, operation, nameof(input));
        RequireReducible(output, operation, nameof(output));
        TensorChecks.RequireSameDtype(input, output, operation);
        TensorChecks.RequireBlocks(input, output, WorldSize, operation, nameof(input), nameof(output));
        // NCCL's in-place form is exactly ours: output is block r of input.
        if (!TensorChecks.IsBlockOf(output, input, Rank) && TensorChecks.Overlaps(input, output))
        {
            throw new ArgumentException($"{operation}: output overlaps input but is not block {Rank} of it; use a separate buffer or exactly that block.");
        }
        Check(_nccl.ReduceScatter(TensorMemory.DataPointer(input), TensorMemory.DataPointer(output), (nuint)output.numel(), Datatype(input),
            Op(op, output, operation), Comm, s_defaultStream), operation);
    }

    /// <inheritdoc />
    /// <remarks>
    /// NCCL's reduce-scatter needs equal blocks, so unequal counts become one grouped launch of a reduce per rank
    /// (rank q's block reduced to rank q, in place); like every call here it is enqueued on the stream and the
    /// request's wait returns at once.
    /// </remarks>
    public ICollectiveRequest ReduceScatterAsync(torch.Tensor buffer, int[] counts, ReduceOp op = ReduceOp.Sum)
    {
        const string operation = "ncclReduce (grouped reduce-scatter)";
        RequireReducible(buffer, operation, nameof(buffer));
        ArgumentNullException.ThrowIfNull(counts);
        if (counts.Length != WorldSize)
        {
            throw new ArgumentException($"{operation}: {counts.Length} counts for {WorldSize} ranks; give one count per rank.", nameof(counts));
        }
        var total = 0L;
        foreach (var count in counts)
        {
            if (count < 0)
            {
                throw new ArgumentException($"{operation}: a count is negative ({count}); counts must be ≥ 0.", nameof(counts));
            }
            total += count;
        }
        if (total != buffer.numel())
        {
            throw new ArgumentException($"{operation}: the counts add up to {total} elements but the buffer holds {buffer.numel()}; they must match.", nameof(counts));
        }
        var pointer = TensorMemory.DataPointer(buffer);
        var elementSize = buffer.ElementSize;
        var datatype = Datatype(buffer);
        var ncclOp = Op(op, buffer, operation);
        Check(_nccl.GroupStart(), "ncclGroupStart");
        var offset = 0L;
        var failure = 0;
        for (var q = 0; q < counts.Length && failure == 0; q++)
        {
            if (counts[q] > 0)
            {
                var block = pointer + (nint)(offset * elementSize);
                failure = _nccl.Reduce(block, block, (nuint)counts[q], datatype, ncclOp, q, Comm, s_defaultStream);
            }
            offset += counts[q];
        }
        // The group must be closed even when a call in it failed, or the next NCCL call would join it.
        var ended = _nccl.GroupEnd();
        Check(failure, operation);
        Check(ended, "ncclGroupEnd");
        return s_enqueued;
    }

    /// <inheritdoc />
    public void AllGather(torch.Tensor input, torch.Tensor output)
    {
        const string operation = "ncclAllGather";
        RequireReducible(input, operation, nameof(input));
        RequireReducible(output, operation, nameof(output));
        TensorChecks.RequireSameDtype(input, output, operation);
        TensorChecks.RequireBlocks(output, input, WorldSize, operation, nameof(output), nameof(input));
        if (!TensorChecks.IsBlockOf(input, output, Rank) && TensorChecks.Overlaps(input, output))
        {
            throw new ArgumentException($"{operation}: input overlaps output but is not block {Rank} of it; use a separate buffer or exactly that block.");
        }
        Check(_nccl.AllGather(TensorMemory.DataPointer(input), TensorMemory.DataPointer(output), (nuint)input.numel(), Datatype(input), Comm,
            s_defaultStream), operation);
    }

    /// <inheritdoc />
    public void Broadcast(torch.Tensor tensor, int root = 0)
    {
        const string operation = "ncclBroadcast";
        RequireOnDevice(tensor, operation, nameof(tensor));
        if (root < 0 || root >= WorldSize)
        {
            throw new ArgumentOutOfRangeException(nameof(root), root, $"{operation}: root must be in [0, {WorldSize}).");
        }
        var pointer = TensorMemory.DataPointer(tensor);
        Check(_nccl.Broadcast(pointer, pointer, (nuint)(tensor.numel() * tensor.ElementSize), NcclUint8, root, Comm, s_defaultStream), operation);
    }

    /// <inheritdoc />
    public void Barrier() => _control.Barrier();

    /// <inheritdoc />
    public void SleepingBarrier() => _control.SleepingBarrier();

    /// <inheritdoc />
    public double AllReduce(double value, ReduceOp op = ReduceOp.Sum) => _control.AllReduce(value, op);

    /// <inheritdoc />
    public void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum) => _control.AllReduce(values, op);

    /// <inheritdoc />
    public void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum) => _control.AllReduce(values, op);

    /// <inheritdoc />
    /// <remarks>Ends the job through the control collective (MPI_Abort), which also ends ranks blocked in NCCL.</remarks>
    [DoesNotReturn]
    public void Abort(int errorCode) => _control.Abort(errorCode);

    /// <summary>Destroys the communicator, then disposes the control collective.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public void Dispose()
    {
        if (_comm != IntPtr.Zero)
        {
            var comm = _comm;
            _comm = IntPtr.Zero;
            try
            {
                Check(_nccl.CommDestroy(comm), "ncclCommDestroy");
            }
            finally
            {
                _control.Dispose();
            }
        }
    }

    private IntPtr Comm => _comm != IntPtr.Zero ? _comm : throw new ObjectDisposedException(nameof(NcclCollective));

    /// <summary>
    /// Rank 0 creates the id and sends [its result code, the 128 bytes] so that a failure there fails every rank
    /// instead of leaving them waiting for an id that never comes.
    /// </summary>
    private IntPtr Join(ICollective control)
    {
        var id = default(NcclUniqueId);
        var created = NcclResult.Success;
        if (control.Rank == 0)
        {
            created = _nccl.GetUniqueId(&id);
        }
        using var message = torch.zeros(sizeof(int) + NcclUniqueId.Bytes, dtype: torch.uint8);
        var bytes = new Span<byte>((void*)TensorMemory.DataPointer(message), sizeof(int) + NcclUniqueId.Bytes);
        BitConverter.TryWriteBytes(bytes, created);
        id.CopyTo(bytes[sizeof(int)..]);
        control.Broadcast(message, 0);
        var result = BitConverter.ToInt32(bytes);
        if (result != NcclResult.Success)
        {
            throw new NcclException("ncclGetUniqueId", 0, result, _nccl.ErrorString(result), control.Rank == 0 ? _nccl.LastError(IntPtr.Zero) : null);
        }
        id = NcclUniqueId.From(bytes[sizeof(int)..]);
        IntPtr comm;
        _nccl.Check(_nccl.CommInitRank(&comm, control.WorldSize, id, control.Rank), "ncclCommInitRank", control.Rank);
        return comm;
    }

    private void Check(int result, string operation) => _nccl.Check(result, operation, Rank, _comm);

    private void RequireReducible(torch.Tensor tensor, string operation, string what)
    {
        RequireOnDevice(tensor, operation, what);
        TensorChecks.RequireReducibleDtype(tensor, operation, what);
    }

    private void RequireOnDevice(torch.Tensor tensor, string operation, string what)
    {
        TensorChecks.RequireContiguousOnAnyDevice(tensor, operation, what);
        var device = tensor.device;
        if (device.type != _device.type || (_device.type == DeviceType.CUDA && device.index != Math.Max(0, _device.index)))
        {
            throw new ArgumentException(
                $"{operation}: {what} is on {device} but this NCCL communicator works on {_device}; move the tensor there with .to(\"{_device}\").", what);
        }
    }

    private static int Datatype(torch.Tensor tensor) => tensor.dtype switch
    {
        torch.ScalarType.Float32 => NcclFloat32,
        torch.ScalarType.Float64 => NcclFloat64,
        torch.ScalarType.Int32 => NcclInt32,
        torch.ScalarType.Int64 => NcclInt64,
        torch.ScalarType.BFloat16 => NcclBfloat16,
        _ => throw new ArgumentException($"dtype {tensor.dtype} is not supported by the NCCL backend."),
    };

    private static int Op(ReduceOp op, torch.Tensor tensor, string operation) => op switch
    {
        ReduceOp.Sum => NcclSum,
        ReduceOp.Average when tensor.is_floating_point() => NcclAvg,
        ReduceOp.Average => throw new ArgumentException($"{operation}: Average needs a floating-point tensor, got {tensor.dtype}; use Sum and divide."),
        ReduceOp.Max => NcclMax,
        ReduceOp.Min => NcclMin,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown reduction"),
    };

    private sealed class Enqueued : ICollectiveRequest
    {
        public void Wait()
        {
        }

        public bool Test() => true;
    }
}
