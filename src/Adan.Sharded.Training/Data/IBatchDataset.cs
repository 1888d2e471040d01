using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// An in-memory dataset that a sampler indexes by sample number and that gathers mini-batches.
/// </summary>
public interface IBatchDataset : IDisposable
{
    /// <summary>The number of samples; valid indices are <c>[0, Count)</c>.</summary>
    long Count { get; }

    /// <summary>
    /// Gathers the samples at <paramref name="indices"/> into one input and one target tensor.
    /// </summary>
    /// <remarks>
    /// The tensors are views on buffers that the dataset reuses, so that batching allocates no new
    /// storage per step: they stay valid until the next call and may be disposed by the caller
    /// (disposing a view leaves the buffer alone).
    /// </remarks>
    (torch.Tensor Input, torch.Tensor Target) Batch(ReadOnlySpan<long> indices);
}
