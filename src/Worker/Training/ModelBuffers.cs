using Adan.Sharded.Collectives;
using static TorchSharp.torch;

namespace Adan.Worker.Training;

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
}
