using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Builds the header of a plain safetensors file: an unsigned 64-bit little-endian length, then a JSON object
/// mapping each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (offsets relative to the
/// data section) plus <c>"__metadata__"</c> (string values only), padded with spaces so that the data section
/// starts at a multiple of 8 bytes.
/// </summary>
public static class SafetensorsHeader
{
    /// <summary>The reserved key of the string-to-string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>
    /// The length prefix and JSON header for fp32 tensors stored back to back in the given order; the data section
    /// follows it directly.
    /// </summary>
    /// <param name="tensors">Name and shape of each tensor, in data order.</param>
    /// <param name="metadata">String metadata (may be empty).</param>
    public static byte[] ForFloat32(IEnumerable<(string Name, long[] Shape)> tensors, IReadOnlyDictionary<string, string> metadata) =>
        For(tensors.Select(t => (t.Name, "F32", t.Shape)), metadata);

    /// <summary>
    /// The length prefix and JSON header for tensors of the given dtypes (<c>F32</c>, <c>F64</c>, <c>I64</c>, ...)
    /// stored back to back in the given order; the data section follows it directly.
    /// </summary>
    /// <param name="tensors">Name, safetensors dtype and shape of each tensor, in data order.</param>
    /// <param name="metadata">String metadata (may be empty).</param>
    /// <exception cref="ArgumentException">A dtype this writer does not know.</exception>
    public static byte[] For(IEnumerable<(string Name, string DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata.Count > 0)
            {
                writer.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    writer.WriteString(key, value);
                }
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape) in tensors)
            {
                var bytes = shape.Aggregate(1L, (a, b) => a * b) * ElementSize(dtype);
                writer.WriteStartObject(name);
                writer.WriteString("dtype", dtype);
                writer.WriteStartArray("shape");
                foreach (var d in shape)
                {
                    writer.WriteNumberValue(d);
                }
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += bytes;
            }
            writer.WriteEndObject();
        }
        var body = json.ToArray();
        var padded = (body.Length + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        body.CopyTo(header, 8);
        header.AsSpan(8 + body.Length).Fill((byte)' ');
        return header;
    }

    /// <summary>Bytes per element of a safetensors dtype; null for a name that is not one.</summary>
    public static int? TryElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => null,
    };

    private static int ElementSize(string dtype) =>
        TryElementSize(dtype) ?? throw new ArgumentException($"'{dtype}' is not a safetensors dtype.", nameof(dtype));

    /// <summary>The JSON text of a header built by <see cref="ForFloat32"/> (without the length prefix and padding).</summary>
    public static string JsonText(ReadOnlySpan<byte> header) => Encoding.UTF8.GetString(header[8..]).TrimEnd(' ');
}
