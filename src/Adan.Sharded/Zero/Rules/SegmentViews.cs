using TorchSharp;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// Per segment of a shard, views of the same piece in several flat buffers, made once so that a tensor-operation update
/// launches operations on existing views and allocates no buffers per step.
/// </summary>
internal sealed class SegmentViews : IDisposable
{
    private readonly torch.Tensor[][] _views;

    /// <param name="segments">The shard's segments.</param>
    /// <param name="buffers">Buffers covering the state range, in the order <see cref="Of"/> returns their views.</param>
    public SegmentViews(IReadOnlyList<ShardSegment> segments, params torch.Tensor[] buffers)
    {
        Segments = segments;
        _views = [.. segments.Select(s => buffers.Select(b => b.narrow(0, s.LocalStart, s.Length).DetachFromDisposeScope()).ToArray())];
    }

    /// <summary>The segments, in the order of their views.</summary>
    public IReadOnlyList<ShardSegment> Segments { get; }

    /// <summary>The views of segment <paramref name="index"/>, one per buffer.</summary>
    public torch.Tensor[] Of(int index) => _views[index];

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var view in _views.SelectMany(v => v))
        {
            view.Dispose();
        }
    }
}
