using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// The one data contract of the trainer: a dataset of <see cref="Count"/> samples that a sampler indexes by sample
/// number and that gathers mini-batches into reused buffers. In-memory sets (<see cref="ImageDataset"/>,
/// <see cref="TextDataset"/>), memory-mapped files (<see cref="TokenFileDataset"/>) and forward-only streams
/// (<see cref="EnumerableDataset"/>) all implement it.
/// </summary>
/// <remarks>
/// <para>
/// A source that does not fit in memory implements it by reading what a batch asks for: a file it maps or seeks in
/// (random access), or a stream it reads forward (<see cref="SupportsRandomAccess"/> false). The count must be known
/// before training: the sampler divides it into epochs, and the learning-rate schedule spans them.
/// </para>
/// <para>
/// Order: with <c>shuffle=true</c> (the default) the sampler draws a seeded permutation per epoch, so indices come in
/// any order. A forward-only source needs <c>shuffle=false</c>, which the trainer enforces; then each rank asks, within
/// an epoch, for strictly increasing indices (rank r of W takes samples r, r + W, r + 2W, …), and it asks for a lower
/// index only when something starts over: a new epoch, an evaluation pass (each rank a contiguous slice of
/// the evaluation set, in order), or a resume.
/// </para>
/// <para>
/// Exact resume: a checkpoint records the sampler's position (epoch and batch), and global batch k of an epoch is the
/// same set of samples at any world size with the same global batch, so a resumed run, on as many ranks or on others,
/// continues with exactly the samples the uninterrupted run would have taken next.
/// </para>
/// </remarks>
public interface IBatchDataset : IDisposable
{
    /// <summary>The number of samples; valid indices are <c>[0, Count)</c>.</summary>
    long Count { get; }

    /// <summary>
    /// Whether <see cref="Batch"/> serves indices in any order at the same cost (true by default). A forward-only
    /// source returns false: the trainer then requires <c>shuffle=false</c> and fails at start otherwise.
    /// </summary>
    bool SupportsRandomAccess => true;

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
