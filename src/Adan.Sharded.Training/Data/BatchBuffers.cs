using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// The reused input and target tensors a dataset gathers batches into: grown to the largest batch
/// asked for, never allocated per batch, and detached from any dispose scope the caller has open
/// (they live as long as the dataset).
/// </summary>
internal sealed class BatchBuffers(long[] inputSampleShape, torch.ScalarType inputType, long[] targetSampleShape) : IDisposable
{
    private int _capacity;

    /// <summary>The input buffer (at least the last requested batch long).</summary>
    public torch.Tensor Input { get; private set; } = torch.empty(0);

    /// <summary>The target buffer (int64).</summary>
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
        Target = torch.empty([batch, .. targetSampleShape], torch.int64).DetachFromDisposeScope();
        _capacity = batch;
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
