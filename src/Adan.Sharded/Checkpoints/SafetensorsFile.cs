using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// A safetensors file opened for random access: the header is parsed and checked against the file's size, and
/// tensor slices are read with positioned reads straight into the caller's memory, so a rank that needs a few
/// slices of a large shard reads only those bytes.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Headers larger than this are refused (the format's own limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100L << 20;

    private readonly SafeFileHandle _handle;

    private SafetensorsFile(string path, SafeFileHandle handle, long length, long dataStart,
        IReadOnlyDictionary<string, SafetensorsTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        Length = length;
        DataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>The file's size in bytes.</summary>
    public long Length { get; }

    /// <summary>Offset of the data section: 8 + the header length.</summary>
    public long DataStart { get; }

    /// <summary>The tensors by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }

    /// <summary>The <c>__metadata__</c> strings (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates a safetensors file.</summary>
    /// <exception cref="CheckpointException">Missing, truncated, or a header that is not valid safetensors.</exception>
    public static SafetensorsFile Open(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CheckpointException($"{path} does not exist.", e);
        }
        try
        {
            var length = RandomAccess.GetLength(handle);
            if (length < 8)
            {
                throw new CheckpointException($"{path}: {length} bytes is too short for a safetensors file (no header length).");
            }
            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(handle, prefix, 0, path);
            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > MaxHeaderBytes || 8 + (long)headerLength > length)
            {
                throw new CheckpointException($"{path}: header length {headerLength} does not fit the file's {length} bytes (truncated or not safetensors).");
            }
            var header = new byte[headerLength];
            ReadExactly(handle, header, 8, path);
            var dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = ParseHeader(header, length - dataStart, path);
            return new SafetensorsFile(path, handle, length, dataStart, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The tensor of that name.</summary>
    /// <exception cref="CheckpointException">The file has no such tensor.</exception>
    public SafetensorsTensor Tensor(string name) =>
        Tensors.TryGetValue(name, out var t) ? t : throw new CheckpointException($"{Path}: there is no tensor '{name}'.");

    /// <summary>Reads elements [<paramref name="elementOffset"/>, + destination length) of an F32 tensor into <paramref name="destination"/>.</summary>
    /// <exception cref="CheckpointException">No such F32 tensor, or the range is outside it.</exception>
    public void ReadFloats(string name, long elementOffset, Span<float> destination)
    {
        var t = Tensor(name);
        if (t.DType != "F32")
        {
            throw new CheckpointException($"{Path}: tensor '{name}' has dtype {t.DType}, expected F32.");
        }
        if (elementOffset < 0 || elementOffset + destination.Length > t.Numel)
        {
            throw new CheckpointException(
                $"{Path}: elements [{elementOffset}, {elementOffset + destination.Length}) are outside tensor '{name}' of {t.Numel} elements.");
        }
        ReadExactly(_handle, MemoryMarshal.AsBytes(destination), DataStart + t.Begin + elementOffset * sizeof(float), Path);
    }

    /// <summary>Reads all bytes of a tensor of any dtype into <paramref name="destination"/>, which must be exactly its size.</summary>
    /// <exception cref="CheckpointException">No such tensor, or <paramref name="destination"/> has another size.</exception>
    public void ReadBytes(string name, Span<byte> destination)
    {
        var t = Tensor(name);
        if (destination.Length != t.End - t.Begin)
        {
            throw new CheckpointException($"{Path}: tensor '{name}' has {t.End - t.Begin} bytes, not {destination.Length}.");
        }
        ReadExactly(_handle, destination, DataStart + t.Begin, Path);
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path)
    {
        while (buffer.Length > 0)
        {
            var n = RandomAccess.Read(handle, buffer, offset);
            if (n == 0)
            {
                throw new CheckpointException($"{path}: unexpected end of file at byte {offset} (truncated).");
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>
    /// The header's tensors and metadata, checked as the format demands: one entry per name, known dtypes, shapes of
    /// non-negative dimensions whose bytes match the offsets, offsets inside the data section, and no two tensors
    /// sharing a byte. A header that breaks any rule is refused naming the file, never half-read.
    /// </summary>
    private static (Dictionary<string, SafetensorsTensor>, Dictionary<string, string>) ParseHeader(byte[] header, long dataLength, string path)
    {
        var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var sawMetadata = false;
        try
        {
            using var doc = JsonDocument.Parse(s_strictUtf8.GetString(header).TrimEnd(' '));
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointException($"{path}: the safetensors header is not a JSON object.");
            }
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == SafetensorsHeader.MetadataKey)
                {
                    if (sawMetadata)
                    {
                        throw new CheckpointException($"{path}: the safetensors header has two {SafetensorsHeader.MetadataKey} entries.");
                    }
                    sawMetadata = true;
                    ReadMetadata(property.Value, metadata, path);
                    continue;
                }
                if (tensors.ContainsKey(property.Name))
                {
                    throw new CheckpointException($"{path}: the safetensors header lists tensor '{property.Name}' twice.");
                }
                tensors.Add(property.Name, ReadTensor(property, dataLength, path));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException
            or OverflowException or DecoderFallbackException)
        {
            throw new CheckpointException($"{path}: the safetensors header is not valid: {e.Message}", e);
        }
        RefuseOverlaps(tensors.Values, path);
        return (tensors, metadata);
    }

    private static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointException($"{path}: {SafetensorsHeader.MetadataKey} is not a JSON object of strings.");
        }
        foreach (var m in element.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
            {
                throw new CheckpointException($"{path}: {SafetensorsHeader.MetadataKey} entry '{m.Name}' is not a string.");
            }
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
            {
                throw new CheckpointException($"{path}: {SafetensorsHeader.MetadataKey} lists '{m.Name}' twice.");
            }
        }
    }

    private static SafetensorsTensor ReadTensor(JsonProperty property, long dataLength, string path)
    {
        var name = property.Name;
        if (property.Value.ValueKind != JsonValueKind.Object)
        {
            throw new CheckpointException($"{path}: tensor '{name}' is not a JSON object.");
        }
        var dtype = property.Value.GetProperty("dtype").GetString() ?? "";
        var size = SafetensorsHeader.TryElementSize(dtype)
            ?? throw new CheckpointException($"{path}: tensor '{name}' has dtype '{dtype}', which is not a safetensors dtype.");
        var shape = property.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        var offsets = property.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
        {
            throw new CheckpointException(
                $"{path}: tensor '{name}' has data_offsets [{string.Join(", ", offsets)}] outside the {dataLength} data bytes (truncated?).");
        }
        if (shape.Any(d => d < 0))
        {
            throw new CheckpointException($"{path}: tensor '{name}' has shape [{string.Join(", ", shape)}] with a negative dimension.");
        }
        // Checked: a shape whose byte count overflows cannot match offsets inside a file.
        var bytes = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * size);
        if (bytes != offsets[1] - offsets[0])
        {
            throw new CheckpointException(
                $"{path}: tensor '{name}' of shape [{string.Join(", ", shape)}] and dtype {dtype} needs {bytes} bytes, its offsets give {offsets[1] - offsets[0]}.");
        }
        return new SafetensorsTensor(name, dtype, shape, offsets[0], offsets[1]);
    }

    /// <summary>Refuses two tensors whose byte ranges share a byte (empty tensors share none).</summary>
    private static void RefuseOverlaps(IEnumerable<SafetensorsTensor> tensors, string path)
    {
        SafetensorsTensor? previous = null;
        foreach (var t in tensors.Where(t => t.End > t.Begin).OrderBy(t => t.Begin))
        {
            if (previous is not null && t.Begin < previous.End)
            {
                throw new CheckpointException(
                    $"{path}: tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{t.Name}' [{t.Begin}, {t.End}) overlap in the data section.");
            }
            previous = t;
        }
    }

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

}
