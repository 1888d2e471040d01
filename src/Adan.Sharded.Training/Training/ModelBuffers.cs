using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>A module's buffers, such as BatchNorm running statistics, which each rank updates from its own samples.</summary>
internal static class ModelBuffers
{
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
    /// statistics and batch count), in the module's order; other dtypes are not model state a checkpoint keeps.
    /// </summary>
    public static IReadOnlyList<ModuleBuffer> Capture(nn.Module model)
    {
        var captured = new List<ModuleBuffer>();
        foreach (var (name, buffer) in model.named_buffers())
        {
            if (DType(buffer.dtype) is { } dtype)
            {
                captured.Add(new ModuleBuffer(name, dtype, buffer.shape, buffer.contiguous().cpu().bytes.ToArray()));
            }
        }
        return captured;
    }

    /// <summary>Copies checkpointed buffers into the module, checking every one it has against the checkpoint first.</summary>
    /// <param name="model">The model, built as the saved one was.</param>
    /// <param name="buffers">From the checkpoint's buffers file.</param>
    /// <param name="source">The checkpoint, for error messages.</param>
    /// <exception cref="CheckpointException">A buffer of the model is missing, or has another dtype or shape; nothing was changed.</exception>
    public static void Restore(nn.Module model, IReadOnlyList<ModuleBuffer> buffers, string source)
    {
        var byName = buffers.ToDictionary(b => b.Name, StringComparer.Ordinal);
        var pairs = new List<(Tensor Buffer, ModuleBuffer Saved)>();
        foreach (var (name, buffer) in model.named_buffers())
        {
            if (DType(buffer.dtype) is not { } dtype)
            {
                continue;
            }
            if (!byName.TryGetValue(name, out var saved))
            {
                throw new CheckpointException($"{source}: the checkpoint has no value for buffer '{name}' of this model.");
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
            if (buffer.device_type == TorchSharp.DeviceType.CPU)
            {
                buffer.bytes = saved.Data;
                continue;
            }
            // A GPU model's buffers are filled through a host copy.
            using var host = empty(buffer.shape, buffer.dtype);
            host.bytes = saved.Data;
            using (no_grad())
            {
                buffer.copy_(host);
            }
        }
    }

    private static string? DType(ScalarType type) => type switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        _ => null,
    };
}
