using System.IO.MemoryMappedFiles;
using TorchSharp;

namespace Adan.Sharded.Training.Data;

/// <summary>The element type of a token file (<c>token_dtype</c>).</summary>
public enum TokenDType
{
    /// <summary>Unsigned 16-bit token ids, as nanoGPT's <c>prepare.py</c> writes them (vocabularies up to 65536).</summary>
    Uint16,

    /// <summary>Unsigned 32-bit token ids, for larger vocabularies.</summary>
    Uint32,
}

/// <summary>
/// Next-token prediction over a token file that is memory-mapped rather than read: the file may be far larger than
/// memory, and the ranks on one host share its pages in the page cache.
/// </summary>
/// <remarks>
/// <para>
/// Format (nanoGPT's <c>train.bin</c> / <c>val.bin</c>): a flat array of token ids, little-endian, with no header;
/// each id 2 bytes (<see cref="TokenDType.Uint16"/>) or 4 bytes (<see cref="TokenDType.Uint32"/>). A file of
/// <c>T</c> tokens holds <c>⌊(T - 1) / context⌋</c> samples: sample <c>i</c> is the window of <c>context + 1</c>
/// tokens starting at token <c>i × context</c>; the input is its first <c>context</c> tokens and the target its last
/// <c>context</c> (the input shifted by one). Windows do not overlap except in their boundary token, so an epoch reads
/// the file once.
/// </para>
/// <para>
/// <see cref="Batch"/> gathers into preallocated int64 buffers and allocates nothing per step. It is random access:
/// any order costs the same page reads, so shuffling works and is the default.
/// </para>
/// </remarks>
public sealed unsafe class TokenFileDataset : IBatchDataset
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _tokens;
    private readonly int _tokenBytes;
    private readonly BatchBuffers _buffers;
    private readonly long _firstSample;

    /// <summary>Maps <paramref name="path"/> and serves samples <c>[firstSample, firstSample + sampleCount)</c> of it as <c>[0, sampleCount)</c>.</summary>
    /// <param name="path">The token file.</param>
    /// <param name="context">Tokens per input (the model's context length).</param>
    /// <param name="dtype">The width of a token id.</param>
    /// <param name="vocabularySize">When positive, every id gathered must be below it (an id the model has no embedding for is an error naming its position); 0 checks nothing.</param>
    /// <param name="firstSample">The first sample served (to split one file into training and validation).</param>
    /// <param name="sampleCount">How many samples are served; -1 for all from <paramref name="firstSample"/> on.</param>
    /// <exception cref="DatasetNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is empty, not a whole number of tokens, or shorter than one window.</exception>
    public TokenFileDataset(string path, int context, TokenDType dtype = TokenDType.Uint16, int vocabularySize = 0, long firstSample = 0,
        long sampleCount = -1)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        ArgumentOutOfRangeException.ThrowIfNegative(vocabularySize);
        ArgumentOutOfRangeException.ThrowIfNegative(firstSample);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("token files are little-endian and are mapped as they are; this host is big-endian.");
        }
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new DatasetNotFoundException($"Token file '{path}' not found: set token_file to a file of {Name(dtype)} token ids (nanoGPT's train.bin).");
        }
        _tokenBytes = dtype == TokenDType.Uint16 ? 2 : 4;
        if (info.Length == 0)
        {
            throw new InvalidDataException($"Token file '{path}' is empty; it needs at least context + 1 = {context + 1} tokens.");
        }
        if (info.Length % _tokenBytes != 0)
        {
            throw new InvalidDataException(
                $"Token file '{path}' has {info.Length} bytes, not a whole number of {_tokenBytes}-byte {Name(dtype)} tokens; check token_dtype (uint16 | uint32) or the file.");
        }
        TokenCount = info.Length / _tokenBytes;
        var available = (TokenCount - 1) / context;
        if (available < 1)
        {
            throw new InvalidDataException($"Token file '{path}' has {TokenCount} tokens, fewer than one window of context + 1 = {context + 1}; use a longer file or a shorter context.");
        }
        if (firstSample >= available || sampleCount == 0 || sampleCount < -1 || (sampleCount > 0 && firstSample + sampleCount > available))
        {
            throw new ArgumentOutOfRangeException(nameof(sampleCount),
                $"samples [{firstSample}, {(sampleCount < 0 ? available : firstSample + sampleCount)}) are not inside the file's {available} samples.");
        }
        Path = path;
        Context = context;
        DType = dtype;
        VocabularySize = vocabularySize;
        _firstSample = firstSample;
        Count = sampleCount < 0 ? available - firstSample : sampleCount;
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _tokens = pointer + _view.PointerOffset;
        }
        catch
        {
            _view?.Dispose();
            _file.Dispose();
            throw;
        }
        _buffers = new BatchBuffers([context], torch.int64, [context]);
    }

    /// <inheritdoc />
    public long Count { get; }

    /// <summary>The mapped file.</summary>
    public string Path { get; }

    /// <summary>Tokens per input (the model's context length).</summary>
    public int Context { get; }

    /// <summary>The width of a token id in the file.</summary>
    public TokenDType DType { get; }

    /// <summary>The bound every id is checked against; 0 when ids are not checked.</summary>
    public int VocabularySize { get; }

    /// <summary>The number of tokens in the whole file.</summary>
    public long TokenCount { get; }

    /// <summary>The number of samples of a file of <paramref name="tokens"/> tokens with windows of <paramref name="context"/> + 1.</summary>
    public static long SamplesOf(long tokens, int context) => Math.Max(0, (tokens - 1) / context);

    /// <inheritdoc />
    /// <remarks>Input and target are int64 <c>[B, context]</c>; the target is the input shifted by one token.</remarks>
    /// <exception cref="InvalidDataException">A token id is not below <see cref="VocabularySize"/>.</exception>
    public (torch.Tensor Input, torch.Tensor Target) Batch(ReadOnlySpan<long> indices)
    {
        _buffers.Begin(indices, this);
        var inputs = ImageDataset.LongSpan(_buffers.Input);
        var targets = ImageDataset.LongSpan(_buffers.Target);
        for (var b = 0; b < indices.Length; b++)
        {
            var index = indices[b];
            if ((ulong)index >= (ulong)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"Sample index must be in [0, {Count}).");
            }
            var start = (_firstSample + index) * Context;
            var input = inputs.Slice(b * Context, Context);
            var target = targets.Slice(b * Context, Context);
            var previous = Token(start);
            for (var t = 0; t < Context; t++)
            {
                var next = Token(start + t + 1);
                input[t] = previous;
                target[t] = next;
                previous = next;
            }
        }
        return _buffers.First(indices.Length);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_buffers.IsDisposed)
        {
            return;
        }
        _buffers.Dispose();
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private long Token(long position)
    {
        long id = _tokenBytes == 2 ? ((ushort*)_tokens)[position] : ((uint*)_tokens)[position];
        if (VocabularySize > 0 && id >= VocabularySize)
        {
            throw new InvalidDataException(
                $"Token file '{Path}': token {position} is {id}, not below vocab_size {VocabularySize}; set vocab_size above the largest id (or check token_dtype).");
        }
        return id;
    }

    private static string Name(TokenDType dtype) => dtype == TokenDType.Uint16 ? "uint16" : "uint32";
}
