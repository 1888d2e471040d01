using System.Buffers.Binary;
using System.IO.Compression;

namespace Adan.Sharded.Training.Data;

/// <summary>
/// An unsigned-byte IDX file (the MNIST format): big-endian magic <c>0x000008NN</c> where NN is the
/// number of dimensions, the dimensions as big-endian 32-bit integers, then the bytes row-major.
/// </summary>
internal sealed class IdxFile
{
    private const int UnsignedByteType = 0x08;

    private IdxFile(int[] shape, byte[] data, int declaredItems)
    {
        Shape = shape;
        Data = data;
        DeclaredItems = declaredItems;
    }

    /// <summary>The dimensions of what was read, outermost first (e.g. <c>[60000, 28, 28]</c>).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The outermost dimension the file declares, whether or not all of it was read.</summary>
    public int DeclaredItems { get; }

    /// <summary>The elements, row-major.</summary>
    public byte[] Data { get; }

    /// <summary>
    /// Reads <paramref name="path"/>, decompressing it when its name ends in <c>.gz</c>; with <paramref name="maxItems"/>
    /// &gt; 0 only the first items of the outermost dimension (a subset decompresses only what it uses).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not an unsigned-byte IDX file or is truncated.</exception>
    public static IdxFile Read(string path, int maxItems = 0)
    {
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new GZipStream(file, CompressionMode.Decompress)
            : file;
        return Read(stream, path, maxItems);
    }

    /// <summary>
    /// Reads an IDX file from <paramref name="stream"/>, all of it or with <paramref name="maxItems"/> &gt; 0 the first
    /// items of its outermost dimension; <paramref name="name"/> is used in errors.
    /// </summary>
    public static IdxFile Read(Stream stream, string name, int maxItems = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxItems);
        Span<byte> header = stackalloc byte[4];
        ReadExactly(stream, header, name);
        if (header[0] != 0 || header[1] != 0 || header[2] != UnsignedByteType || header[3] == 0)
        {
            throw new InvalidDataException(
                $"{name} is not an unsigned-byte IDX file (magic {Convert.ToHexString(header)}, expected 000008NN).");
        }

        var shape = new int[header[3]];
        long count = 1;
        for (var i = 0; i < shape.Length; i++)
        {
            ReadExactly(stream, header, name);
            shape[i] = BinaryPrimitives.ReadInt32BigEndian(header);
            if (shape[i] < 0)
            {
                throw new InvalidDataException($"{name} has a negative dimension {shape[i]}.");
            }
        }
        var declared = shape[0];
        if (maxItems > 0 && shape[0] > maxItems)
        {
            shape[0] = maxItems;
        }
        foreach (var dimension in shape)
        {
            count *= dimension;
        }
        if (count > Array.MaxLength)
        {
            throw new InvalidDataException($"{name} declares {count} elements, more than one array can hold.");
        }

        var data = new byte[count];
        ReadExactly(stream, data, name);
        return new IdxFile(shape, data, declared);
    }

    /// <summary>Writes an unsigned-byte IDX file (gzip-compressed when the name ends in <c>.gz</c>).</summary>
    public static void Write(string path, ReadOnlySpan<int> shape, ReadOnlySpan<byte> data)
    {
        using var file = File.Create(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new GZipStream(file, CompressionLevel.Fastest)
            : file;
        Span<byte> word = stackalloc byte[4];
        word[0] = 0;
        word[1] = 0;
        word[2] = UnsignedByteType;
        word[3] = checked((byte)shape.Length);
        stream.Write(word);
        foreach (var dimension in shape)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, dimension);
            stream.Write(word);
        }
        stream.Write(data);
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string name)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{name} is truncated.");
        }
    }
}
