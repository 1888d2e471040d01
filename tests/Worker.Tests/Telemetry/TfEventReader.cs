using System.Buffers.Binary;
using System.Text;

namespace Adan.Worker.Tests.Telemetry;

/// <summary>One scalar of a TensorBoard event file: the event's step and wall time, the value's tag and simple_value.</summary>
internal sealed record TfScalar(long Step, double WallTime, string Tag, float Value);

/// <summary>
/// Reads TensorBoard event files independently of TorchSharp: TFRecord framing (uint64 length, masked CRC-32C of the
/// length's 8 bytes, the data, masked CRC-32C of the data; both checked) around <c>tensorflow.Event</c> protobufs, of
/// which only wall_time (1), step (2), file_version (3) and summary (5) → value (1) → tag (1), simple_value (2) are read.
/// </summary>
internal static class TfEventReader
{
    private static readonly uint[] s_table = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        }
        return c;
    }).ToArray();

    /// <summary>The file_version of the first event and every scalar in file order.</summary>
    public static (string? FileVersion, List<TfScalar> Scalars) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        string? fileVersion = null;
        var scalars = new List<TfScalar>();
        var at = 0;
        while (at < bytes.Length)
        {
            var lengthBytes = bytes.AsSpan(at, 8);
            var length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes));
            Check(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8, 4)), lengthBytes, $"length CRC of the record at byte {at}");
            var data = bytes.AsSpan(at + 12, length);
            Check(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + length, 4)), data, $"data CRC of the record at byte {at}");
            var (wallTime, step, version, values) = ParseEvent(data);
            fileVersion ??= version;
            scalars.AddRange(values.Select(v => new TfScalar(step, wallTime, v.Tag, v.Value)));
            at += 12 + length + 4;
        }
        return (fileVersion, scalars);
    }

    private static void Check(uint masked, ReadOnlySpan<byte> data, string what)
    {
        var crc = ~0u;
        foreach (var b in data)
        {
            crc = s_table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        crc = ~crc;
        var expected = ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
        if (masked != expected)
        {
            throw new InvalidDataException($"{what}: 0x{masked:X8}, expected 0x{expected:X8}");
        }
    }

    private static (double WallTime, long Step, string? FileVersion, List<(string Tag, float Value)> Values) ParseEvent(ReadOnlySpan<byte> data)
    {
        double wallTime = 0;
        long step = 0;
        string? fileVersion = null;
        var values = new List<(string, float)>();
        var at = 0;
        while (at < data.Length)
        {
            var (field, wire) = Key(data, ref at);
            switch (field, wire)
            {
                case (1, 1):
                    wallTime = BinaryPrimitives.ReadDoubleLittleEndian(data.Slice(at, 8));
                    at += 8;
                    break;
                case (2, 0):
                    step = (long)Varint(data, ref at);
                    break;
                case (3, 2):
                    fileVersion = Encoding.UTF8.GetString(Bytes(data, ref at));
                    break;
                case (5, 2):
                    var summary = Bytes(data, ref at);
                    for (var s = 0; s < summary.Length;)
                    {
                        var (summaryField, summaryWire) = Key(summary, ref s);
                        if (summaryField == 1 && summaryWire == 2)
                        {
                            values.Add(ParseValue(Bytes(summary, ref s)));
                        }
                        else
                        {
                            Skip(summary, summaryWire, ref s);
                        }
                    }
                    break;
                default:
                    Skip(data, wire, ref at);
                    break;
            }
        }
        return (wallTime, step, fileVersion, values);
    }

    private static (string Tag, float Value) ParseValue(ReadOnlySpan<byte> data)
    {
        var tag = "";
        var value = float.NaN;
        for (var at = 0; at < data.Length;)
        {
            var (field, wire) = Key(data, ref at);
            if (field == 1 && wire == 2)
            {
                tag = Encoding.UTF8.GetString(Bytes(data, ref at));
            }
            else if (field == 2 && wire == 5)
            {
                value = BinaryPrimitives.ReadSingleLittleEndian(data.Slice(at, 4));
                at += 4;
            }
            else
            {
                Skip(data, wire, ref at);
            }
        }
        return (tag, value);
    }

    private static (int Field, int Wire) Key(ReadOnlySpan<byte> data, ref int at)
    {
        var key = Varint(data, ref at);
        return ((int)(key >> 3), (int)(key & 7));
    }

    private static ulong Varint(ReadOnlySpan<byte> data, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    private static ReadOnlySpan<byte> Bytes(ReadOnlySpan<byte> data, ref int at)
    {
        var length = (int)Varint(data, ref at);
        var bytes = data.Slice(at, length);
        at += length;
        return bytes;
    }

    private static void Skip(ReadOnlySpan<byte> data, int wire, ref int at)
    {
        switch (wire)
        {
            case 0:
                Varint(data, ref at);
                break;
            case 1:
                at += 8;
                break;
            case 2:
                Bytes(data, ref at);
                break;
            case 5:
                at += 4;
                break;
            default:
                throw new InvalidDataException($"protobuf wire type {wire} at byte {at}");
        }
    }
}
