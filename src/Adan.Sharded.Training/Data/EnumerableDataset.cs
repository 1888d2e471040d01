using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// A forward-only <see cref="IBatchDataset"/> over any enumerable of samples: a generator, a database cursor, a
/// decoder of a compressed stream. It serves increasing indices by reading forward, skipping the samples it is not
/// asked for, and starts the enumeration over when asked for an index it has passed.
/// </summary>
/// <remarks>
/// <para>
/// The enumerable is read again from its start for every new epoch, every evaluation pass over it, and after a
/// resume, which reads and discards every sample before the resume position: a resume deep into a long epoch costs
/// as much reading as the part of the epoch before it. With W ranks each rank reads the whole stream and keeps every
/// W-th sample. <see cref="Enumerations"/> counts the starts. When those costs matter, write the data once into a
/// random-access format (<see cref="TokenFileDataset"/>).
/// </para>
/// <para>
/// The trainer requires <c>shuffle=false</c> with this dataset (<see cref="SupportsRandomAccess"/> is false), and then
/// asks each rank for increasing indices within an epoch. Every enumeration must yield the same samples in the same
/// order, at least <see cref="Count"/> of them; each sample's tensors must have the shapes and dtypes of the first.
/// The dataset owns what the enumerable yields: it disposes both tensors of every item after copying or skipping it
/// (disposing a view leaves its storage alone, so an item may be a view on the caller's data).
/// </para>
/// </remarks>
public sealed class EnumerableDataset : IBatchDataset
{
    private readonly Func<IEnumerable<(torch.Tensor Input, torch.Tensor Target)>> _source;
    private IEnumerator<(torch.Tensor Input, torch.Tensor Target)>? _enumerator;
    private BatchBuffers? _buffers;
    private long[] _inputShape = [];
    private long[] _targetShape = [];
    private torch.ScalarType _inputType;
    private torch.ScalarType _targetType;
    private long _next;
    private bool _disposed;

    /// <summary>Creates the dataset over the samples <paramref name="source"/> enumerates, of which the first <paramref name="count"/> are used.</summary>
    /// <param name="source">Starts a new enumeration from the first sample; called once per enumeration.</param>
    /// <param name="count">The number of samples (the sampler's epoch); the enumeration must yield at least this many.</param>
    public EnumerableDataset(Func<IEnumerable<(torch.Tensor Input, torch.Tensor Target)>> source, long count)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        _source = source;
        Count = count;
    }

    /// <inheritdoc />
    public long Count { get; }

    /// <inheritdoc />
    /// <remarks>False: indices are served by reading forward.</remarks>
    public bool SupportsRandomAccess => false;

    /// <summary>How many times the enumeration was started (the first read included).</summary>
    public int Enumerations { get; private set; }

    /// <summary>Samples read and discarded without being asked for, over all enumerations.</summary>
    public long Skipped { get; private set; }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">The enumeration ended before <see cref="Count"/> samples, or a sample's shape or dtype differs from the first's.</exception>
    public (torch.Tensor Input, torch.Tensor Target) Batch(ReadOnlySpan<long> indices)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (indices.IsEmpty)
        {
            throw new ArgumentException("A batch needs at least one index.", nameof(indices));
        }
        for (var b = 0; b < indices.Length; b++)
        {
            var index = indices[b];
            if ((ulong)index >= (ulong)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"Sample index must be in [0, {Count}).");
            }
            if (_enumerator is null || index < _next)
            {
                Restart();
            }
            while (_next < index)
            {
                var (input, target) = Read();
                input.Dispose();
                target.Dispose();
                Skipped++;
            }
            var (x, y) = Read();
            using (x)
            using (y)
            {
                var buffers = BuffersFor(x, y, indices.Length);
                using (torch.no_grad())
                using (var inputRow = buffers.Input.select(0, b))
                using (var targetRow = buffers.Target.select(0, b))
                {
                    inputRow.copy_(x);
                    targetRow.copy_(y);
                }
            }
        }
        return _buffers!.First(indices.Length);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _enumerator?.Dispose();
        _buffers?.Dispose();
        _disposed = true;
    }

    private void Restart()
    {
        _enumerator?.Dispose();
        _enumerator = _source().GetEnumerator();
        _next = 0;
        Enumerations++;
    }

    private (torch.Tensor Input, torch.Tensor Target) Read()
    {
        if (!_enumerator!.MoveNext())
        {
            throw new InvalidDataException($"the enumerable ended after {_next} samples; the dataset was created with count {Count}.");
        }
        _next++;
        return _enumerator.Current;
    }

    /// <summary>The buffers, shaped by the first sample, checking each later one against it.</summary>
    private BatchBuffers BuffersFor(torch.Tensor input, torch.Tensor target, int batch)
    {
        if (_buffers is null)
        {
            _inputShape = input.shape;
            _targetShape = target.shape;
            (_inputType, _targetType) = (input.dtype, target.dtype);
            _buffers = new BatchBuffers(_inputShape, input.dtype, _targetShape, target.dtype);
        }
        if (!input.shape.SequenceEqual(_inputShape) || !target.shape.SequenceEqual(_targetShape) || input.dtype != _inputType
            || target.dtype != _targetType)
        {
            throw new InvalidDataException(
                $"sample {_next - 1} is {input.dtype} [{string.Join(", ", input.shape)}] -> {target.dtype} [{string.Join(", ", target.shape)}], " +
                $"the first was {_inputType} [{string.Join(", ", _inputShape)}] -> {_targetType} [{string.Join(", ", _targetShape)}]; every sample must have the same shapes and dtypes.");
        }
        _buffers.Ensure(batch);
        return _buffers;
    }
}
