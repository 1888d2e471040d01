using System.Diagnostics.CodeAnalysis;
using TorchSharp;

namespace Adan.Sharded.Collectives;

/// <summary>
/// Collective communication on TorchSharp tensors, zero-copy from tensor memory.
/// Tensors must be contiguous and of a supported dtype (float32, float64, int32, int64; any dtype
/// for <see cref="Broadcast"/>); anything else is refused with an <see cref="ArgumentException"/>.
/// </summary>
public interface ICollective : IDisposable
{
    /// <summary>This process's rank, 0 ≤ rank &lt; <see cref="WorldSize"/>.</summary>
    int Rank { get; }

    /// <summary>The number of ranks.</summary>
    int WorldSize { get; }

    /// <summary>
    /// The device whose memory this collective communicates: where the flat buffers of a job that uses it live (the
    /// CPU for MPI, the rank's GPU for NCCL, the device it was made for when there is one process).
    /// </summary>
    torch.Device Device { get; }

    /// <summary>Reduces <paramref name="tensor"/> over all ranks, in place.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum);

    /// <summary>
    /// Starts a nonblocking in-place all-reduce; the tensor must stay alive and untouched until the
    /// returned request is waited on.
    /// </summary>
    /// <remarks>Collective: every rank must call, in the same order.</remarks>
    ICollectiveRequest AllReduceAsync(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum);

    /// <summary>
    /// Reduces <paramref name="input"/> (W·S elements) over all ranks and leaves block r of the
    /// result in <paramref name="output"/> (S elements) on rank r. <paramref name="output"/> may be
    /// block r of <paramref name="input"/> itself (in place).
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void ReduceScatter(torch.Tensor input, torch.Tensor output, ReduceOp op = ReduceOp.Sum);

    /// <summary>
    /// Starts a nonblocking in-place reduce-scatter with a count per rank: <paramref name="buffer"/> holds
    /// Σ <paramref name="counts"/> elements, rank q's block at offset Σ_{p&lt;q} counts[p] (a count may be 0). When the
    /// returned request completes, this rank's block holds the reduction over all ranks and the other blocks are
    /// undefined. The buffer must stay alive and untouched, and <paramref name="counts"/> unchanged, until then.
    /// </summary>
    /// <remarks>Collective: every rank must call, in the same order, with the same counts.</remarks>
    ICollectiveRequest ReduceScatterAsync(torch.Tensor buffer, int[] counts, ReduceOp op = ReduceOp.Sum);

    /// <summary>
    /// Gathers every rank's <paramref name="input"/> (S elements) into <paramref name="output"/>
    /// (W·S elements, rank r's block at r·S). <paramref name="input"/> may be block r of
    /// <paramref name="output"/> itself (in place).
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void AllGather(torch.Tensor input, torch.Tensor output);

    /// <summary>Copies <paramref name="tensor"/> from <paramref name="root"/> to every rank, in place.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void Broadcast(torch.Tensor tensor, int root = 0);

    /// <summary>Returns once every rank has called it.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void Barrier();

    /// <summary>
    /// Returns once every rank has called it, sleeping rather than spinning while it waits: for a wait that may last
    /// tens of milliseconds (ranks finishing checkpoint I/O at different times), so a rank that arrives early leaves the
    /// cores to the ranks still working. <see cref="Barrier"/> is faster for short waits.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void SleepingBarrier();

    /// <summary>Reduces one double over all ranks.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    double AllReduce(double value, ReduceOp op = ReduceOp.Sum);

    /// <summary>Reduces a small array of doubles over all ranks, in place.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum);

    /// <summary>Reduces a small array of longs over all ranks, in place.</summary>
    /// <remarks>Collective: every rank must call.</remarks>
    void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum);

    /// <summary>
    /// Ends every rank of the job with exit code <paramref name="errorCode"/>; never returns. For a rank that cannot go on
    /// while the others may be blocked in a collective it will never join (the job was declared failed): only ending the
    /// whole job frees them.
    /// </summary>
    /// <remarks>
    /// Not collective: one rank calls it, from any thread, including one other than the thread in a collective call.
    /// Nothing is flushed or disposed on the way out beyond what the runtime does when the process exits.
    /// </remarks>
    /// <param name="errorCode">The exit code of the job (and of this process).</param>
    [DoesNotReturn]
    void Abort(int errorCode);
}
