using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Adan.Worker.Tests.Models;

/// <summary>
/// A safetensors reader written from the format's specification alone, independent of the project's
/// <c>SafetensorsFile</c>: 8 bytes of little-endian header length N, N bytes of a JSON object mapping each tensor name
/// to <c>{dtype, shape, data_offsets: [begin, end]}</c> (offsets into the data that follows the header) and an optional
/// <c>__metadata__</c> object of strings, then the data.
/// </summary>
internal sealed class MiniSafetensors
{
    private static readonly Dictionary<string, int> s_elementBytes = new()
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1,
    };

    private MiniSafetensors(Dictionary<string, (string DType, long[] Shape, byte[] Data)> tensors, Dictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Each tensor's dtype, shape and raw little-endian bytes, by name.</summary>
    public IReadOnlyDictionary<string, (string DType, long[] Shape, byte[] Data)> Tensors { get; }

    /// <summary>The <c>__metadata__</c> strings; empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Reads and checks the whole file: offsets inside the data, sizes matching dtype × shape, no byte shared or left over.</summary>
    public static MiniSafetensors Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0, 8)));
        var data = bytes.AsSpan(8 + headerLength);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, headerLength));
        var tensors = new Dictionary<string, (string, long[], byte[])>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var covered = new List<(long Begin, long End)>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                foreach (var m in entry.Value.EnumerateObject())
                {
                    metadata.Add(m.Name, m.Value.GetString()!);
                }
                continue;
            }
            var dtype = entry.Value.GetProperty("dtype").GetString()!;
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] > offsets[1] || offsets[1] > data.Length)
            {
                throw new InvalidDataException($"{entry.Name}: data_offsets [{string.Join(", ", offsets)}] outside {data.Length} data bytes");
            }
            var expected = shape.Aggregate(1L, (a, b) => a * b) * s_elementBytes[dtype];
            if (offsets[1] - offsets[0] != expected)
            {
                throw new InvalidDataException($"{entry.Name}: {offsets[1] - offsets[0]} bytes for {dtype} [{string.Join(", ", shape)}], expected {expected}");
            }
            covered.Add((offsets[0], offsets[1]));
            tensors.Add(entry.Name, (dtype, shape, data[(int)offsets[0]..(int)offsets[1]].ToArray()));
        }
        // The specification's buffer is dense: the tensors tile the data section exactly.
        var end = 0L;
        foreach (var (begin, stop) in covered.OrderBy(c => c.Begin))
        {
            if (begin != end)
            {
                throw new InvalidDataException($"data bytes [{end}, {begin}) belong to no tensor, or two tensors overlap");
            }
            end = stop;
        }
        if (end != data.Length)
        {
            throw new InvalidDataException($"{data.Length - end} data bytes after the last tensor");
        }
        return new MiniSafetensors(tensors, metadata);
    }
}
