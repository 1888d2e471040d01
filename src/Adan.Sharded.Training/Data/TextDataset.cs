using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// Next-character prediction over a token sequence: sample <c>i</c> is the window
/// <c>tokens[i .. i + context]</c> (context + 1 tokens); the input is its first
/// <c>context</c> tokens and the target the last <c>context</c>, so <see cref="Count"/> is
/// <c>tokens - context</c>.
/// </summary>
internal sealed class TextDataset : IBatchDataset
{
    private readonly int[] _tokens;
    private readonly BatchBuffers _buffers;

    /// <summary>Creates the dataset over <paramref name="tokens"/> with windows of <paramref name="context"/> + 1.</summary>
    /// <exception cref="ArgumentException">The sequence is shorter than one window.</exception>
    public TextDataset(int[] tokens, int context)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        if (tokens.Length < context + 1)
        {
            throw new ArgumentException(
                $"{tokens.Length} tokens are fewer than one window of context + 1 = {context + 1}; use a longer text or a shorter context.",
                nameof(tokens));
        }
        _tokens = tokens;
        Context = context;
        _buffers = new BatchBuffers([context], torch.int64, [context]);
    }

    /// <inheritdoc />
    public long Count => _tokens.Length - Context;

    /// <summary>Tokens per input (the model's context length).</summary>
    public int Context { get; }

    /// <summary>The number of tokens in the sequence.</summary>
    public int TokenCount => _tokens.Length;

    /// <inheritdoc />
    /// <remarks>Input and target are int64 <c>[B, context]</c>; the target is the input shifted by one.</remarks>
    public (torch.Tensor Input, torch.Tensor Target) Batch(ReadOnlySpan<long> indices)
    {
        _buffers.Begin(indices, this);
        var inputs = ImageDataset.LongSpan(_buffers.Input);
        var targets = ImageDataset.LongSpan(_buffers.Target);
        for (var b = 0; b < indices.Length; b++)
        {
            var start = indices[b];
            if ((ulong)start >= (ulong)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), start, $"Sample index must be in [0, {Count}).");
            }
            var window = new ReadOnlySpan<int>(_tokens, (int)start, Context + 1);
            var input = inputs.Slice(b * Context, Context);
            var target = targets.Slice(b * Context, Context);
            for (var t = 0; t < Context; t++)
            {
                input[t] = window[t];
                target[t] = window[t + 1];
            }
        }
        return _buffers.First(indices.Length);
    }

    /// <inheritdoc />
    public void Dispose() => _buffers.Dispose();

}
