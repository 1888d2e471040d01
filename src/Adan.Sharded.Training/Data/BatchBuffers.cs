using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// The reused input and target tensors a dataset gathers batches into: grown to the largest batch
/// asked for, never allocated per batch, and detached from any dispose scope the caller has open
/// (they live as long as the dataset).
/// </summary>
internal sealed class BatchBuffers(long[] inputSampleShape, torch.ScalarType inputType, long[] targetSampleShape,
    torch.ScalarType targetType = torch.ScalarType.Int64) : IDisposable
{
    private int _capacity;

    /// <summary>The input buffer (at least the last requested batch long).</summary>
    public torch.Tensor Input { get; private set; } = torch.empty(0);

    /// <summary>The target buffer (int64 unless created with another type).</summary>
    public torch.Tensor Target { get; private set; } = torch.empty(0, dtype: torch.int64);

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _capacity < 0;

    /// <summary>Makes room for <paramref name="batch"/> samples.</summary>
    public void Ensure(int batch)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (batch <= _capacity)
        {
            return;
        }
        Input.Dispose();
        Target.Dispose();
        Input = torch.empty([batch, .. inputSampleShape], inputType).DetachFromDisposeScope();
        Target = torch.empty([batch, .. targetSampleShape], targetType).DetachFromDisposeScope();
        _capacity = batch;
    }

    /// <summary>
    /// The start of every dataset's <c>Batch</c>: refuses a disposed dataset and an empty batch, then makes room for
    /// <paramref name="indices"/>.
    /// </summary>
    /// <param name="indices">The batch's sample indices.</param>
    /// <param name="owner">The dataset, named if it was disposed.</param>
    public void Begin(ReadOnlySpan<long> indices, object owner)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, owner);
        if (indices.IsEmpty)
        {
            throw new ArgumentException("A batch needs at least one index.", nameof(indices));
        }
        Ensure(indices.Length);
    }

    /// <summary>Views of the first <paramref name="count"/> samples of both buffers.</summary>
    public (torch.Tensor Input, torch.Tensor Target) First(int count) => (Input.narrow(0, 0, count), Target.narrow(0, 0, count));

    public void Dispose()
    {
        Input.Dispose();
        Target.Dispose();
        _capacity = -1;
    }
}
