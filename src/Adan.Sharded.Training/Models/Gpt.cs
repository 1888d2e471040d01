using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>
/// A character-level GPT: token and learned position embeddings, causal pre-norm transformer
/// blocks, a final LayerNorm and a head onto the vocabulary that is either its own linear layer
/// or tied to the token embedding (then the embedding is the only copy of that matrix).
/// </summary>
internal sealed class Gpt : nn.Module<Tensor, Tensor>
{
    private readonly Embedding _tokenEmbedding;
    private readonly ModuleList<TransformerBlock> _blocks;
    private readonly LayerNorm _norm;
    private readonly Linear? _head;

    /// <summary>
    /// The learned position embedding is read by its registered name at each forward, never held in a field:
    /// <c>Module.to(device or dtype)</c> replaces a parameter and rebinds only a field named as it is registered, so a
    /// field would keep the replaced tensor (on the old device, or disposed) after <c>model.to(cuda)</c>.
    /// </summary>
    private const string PositionEmbeddingName = "position_embedding";

    /// <summary>Creates the network.</summary>
    /// <param name="vocabularySize">Number of distinct tokens.</param>
    /// <param name="context">Maximum sequence length (rows of the position embedding).</param>
    /// <param name="dimension">Embedding width, divisible by <paramref name="heads"/>.</param>
    /// <param name="layers">Transformer blocks.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="tiedHead">Whether the output head reuses the token embedding matrix.</param>
    public Gpt(int vocabularySize, int context = 64, int dimension = 128, int layers = 4, int heads = 4, bool tiedHead = true)
        : base(nameof(Gpt))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabularySize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        Context = context;
        _tokenEmbedding = nn.Embedding(vocabularySize, dimension);
        // GPT-2's initialisation: N(0, 0.02) rather than Embedding's N(0, 1), which would swamp a tied head.
        using (torch.no_grad())
        {
            nn.init.normal_(_tokenEmbedding.weight!, 0.0, 0.02);
        }
        var positionEmbedding = nn.Parameter(torch.randn(context, dimension).mul_(0.02));
        _blocks = nn.ModuleList(Enumerable.Range(0, layers).Select(_ => new TransformerBlock(dimension, heads, causal: true)).ToArray());
        _norm = nn.LayerNorm(dimension);
        register_module("token_embedding", _tokenEmbedding);
        register_parameter(PositionEmbeddingName, positionEmbedding);
        register_module("blocks", _blocks);
        register_module("norm", _norm);
        if (!tiedHead)
        {
            _head = nn.Linear(dimension, vocabularySize, hasBias: false);
            register_module("head", _head);
        }
    }

    /// <summary>The longest input sequence.</summary>
    public int Context { get; }

    private Parameter PositionEmbedding => get_parameter(PositionEmbeddingName)
        ?? throw new InvalidOperationException($"the {PositionEmbeddingName} parameter is not registered.");

    /// <summary>Maps int64 token ids <c>[B, T]</c> (T ≤ context) to logits <c>[B, T, vocabulary]</c>.</summary>
    public override Tensor forward(Tensor input)
    {
        var tokens = input.shape[1];
        if (tokens > Context)
        {
            throw new ArgumentException($"Sequence length {tokens} exceeds the context {Context}.", nameof(input));
        }
        using var embedded = _tokenEmbedding.call(input);
        using var positions = PositionEmbedding.narrow(0, 0, tokens);
        var x = embedded.add(positions);
        foreach (var block in _blocks)
        {
            var next = block.call(x);
            x.Dispose();
            x = next;
        }
        using var normed = _norm.call(x);
        x.Dispose();
        if (_head is not null)
        {
            return _head.call(normed);
        }
        using var embeddingTransposed = _tokenEmbedding.weight!.t();
        return normed.matmul(embeddingTransposed);
    }
}
