using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// A module's state outside the flat buffer: its buffers, such as BatchNorm running statistics, which each rank updates
/// from its own samples, and its frozen parameters (<c>requires_grad</c> false), which
/// <see cref="FlatParameters.FromModule(nn.Module, int, int, bool)"/> leaves out. A checkpoint keeps both in its buffers file, under their module
/// names, so an export holds them next to the trained weights.
/// </summary>
internal static class ModelBuffers
{
    /// <summary>
    /// Sends rank 0's frozen parameters to every rank, as the trainer sends the flat buffer: identical seeds give
    /// identical weights, the broadcast makes it a guarantee.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public static void BroadcastFrozen(nn.Module model, ICollective collective)
    {
        foreach (var (_, parameter) in FlatParameters.Frozen(model))
        {
            using (no_grad())
            {
                if (parameter.is_contiguous())
                {
                    collective.Broadcast(parameter);
                    continue;
                }
                using var copy = parameter.contiguous();
                collective.Broadcast(copy);
                parameter.copy_(copy);
            }
        }
    }

    /// <summary>
    /// Averages the floating-point buffers over ranks, so that evaluation and checkpoints see one model; integer
    /// buffers (BatchNorm's batch count) are equal on every rank already.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    public static void Average(nn.Module model, ICollective collective)
    {
        foreach (var (_, buffer) in model.named_buffers())
        {
            if (buffer.dtype == ScalarType.Float32 || buffer.dtype == ScalarType.Float64)
            {
                collective.AllReduce(buffer, ReduceOp.Average);
            }
        }
    }

    /// <summary>
    /// Copies of the module's buffers as a checkpoint stores them (fp32, fp64 and int64 ones: BatchNorm's running
    /// statistics and batch count; bf16 and fp16 ones widened to fp32), in the module's order, then its frozen
    /// parameters; other dtypes are not model state a checkpoint keeps.
    /// </summary>
    public static IReadOnlyList<ModuleBuffer> Capture(nn.Module model)
    {
        var captured = new List<ModuleBuffer>();
        foreach (var (name, buffer) in State(model))
        {
            if (DType(buffer.dtype) is not { } dtype)
            {
                continue;
            }
            // A half-precision tensor (a frozen parameter or buffer of a bf16-mixed model) is stored widened: exact, and
            // the same entry an fp32 run of the model writes.
            using var stored = IsHalf(buffer.dtype) ? buffer.to(ScalarType.Float32) : buffer.alias();
            captured.Add(new ModuleBuffer(name, dtype, buffer.shape, stored.contiguous().cpu().bytes.ToArray()));
        }
        return captured;
    }

    /// <summary>
    /// Copies checkpointed buffers and frozen parameters into the module, checking every one it has against the
    /// checkpoint first. A checkpoint from before frozen parameters were kept apart holds none, and its model had none.
    /// </summary>
    /// <param name="model">The model, built as the saved one was.</param>
    /// <param name="buffers">From the checkpoint's buffers file.</param>
    /// <param name="source">The checkpoint, for error messages.</param>
    /// <exception cref="CheckpointException">A buffer of the model is missing, or has another dtype or shape; nothing was changed.</exception>
    public static void Restore(nn.Module model, IReadOnlyList<ModuleBuffer> buffers, string source)
    {
        var byName = buffers.ToDictionary(b => b.Name, StringComparer.Ordinal);
        var pairs = new List<(Tensor Buffer, ModuleBuffer Saved)>();
        foreach (var (name, buffer) in State(model))
        {
            if (DType(buffer.dtype) is not { } dtype)
            {
                continue;
            }
            if (!byName.TryGetValue(name, out var saved))
            {
                throw new CheckpointException($"{source}: the checkpoint has no value for buffer or frozen parameter '{name}' of this model.");
            }
            if (saved.DType != dtype || !saved.Shape.SequenceEqual(buffer.shape))
            {
                throw new CheckpointException(
                    $"{source}: buffer '{name}' is {saved.DType} [{string.Join(", ", saved.Shape)}], the model has {dtype} [{string.Join(", ", buffer.shape)}].");
            }
            pairs.Add((buffer, saved));
        }
        foreach (var (buffer, saved) in pairs)
        {
            Fill(buffer, saved.Data);
        }
    }

    /// <summary>
    /// Copies <paramref name="data"/>, stored as <see cref="DType"/> gives for <paramref name="target"/>'s dtype, into
    /// <paramref name="target"/> wherever it lives: directly on the host, else through a host copy (a half-precision
    /// tensor from its widened values).
    /// </summary>
    internal static void Fill(Tensor target, byte[] data)
    {
        if (target.device_type == TorchSharp.DeviceType.CPU && !IsHalf(target.dtype) && target.is_contiguous())
        {
            target.bytes = data;
            return;
        }
        using var host = empty(target.shape, IsHalf(target.dtype) ? ScalarType.Float32 : target.dtype);
        host.bytes = data;
        using (no_grad())
        {
            target.copy_(host);
        }
    }

    /// <summary>The buffers, then the frozen parameters, under their module names.</summary>
    private static IEnumerable<(string Name, Tensor Tensor)> State(nn.Module model) =>
        model.named_buffers().Concat(FlatParameters.Frozen(model).Select(p => (p.Name, (Tensor)p.Parameter)));

    /// <summary>
    /// The safetensors dtype a checkpoint stores a tensor of <paramref name="type"/> as (bf16 and fp16 widened to F32);
    /// null for a type it does not keep.
    /// </summary>
    internal static string? DType(ScalarType type) => type switch
    {
        ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 => "F32",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        _ => null,
    };

    private static bool IsHalf(ScalarType type) => type is ScalarType.BFloat16 or ScalarType.Float16;
}
