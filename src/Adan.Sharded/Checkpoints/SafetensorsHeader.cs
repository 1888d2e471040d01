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
    public static byte[] ForFloat32(IEnumerable<(string Name, long[] Shape)> tensors, IReadOnlyDictionary<string, string> metadata)
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
            foreach (var (name, shape) in tensors)
            {
                var bytes = shape.Aggregate(1L, (a, b) => a * b) * sizeof(float);
                writer.WriteStartObject(name);
                writer.WriteString("dtype", "F32");
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

    /// <summary>The JSON text of a header built by <see cref="ForFloat32"/> (without the length prefix and padding).</summary>
    public static string JsonText(ReadOnlySpan<byte> header) => Encoding.UTF8.GetString(header[8..]).TrimEnd(' ');
}
