using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Adan.Sharded.Tests.Checkpoints.Fuzz;

/// <summary>
/// Seeded random damage to a valid file, of the kinds storage and careless hands produce: bit flips, truncation,
/// a rewritten length prefix, and edits of the JSON text (numbers replaced by extremes, values by other types, keys
/// duplicated or removed, structure cut). Each mutation says what it did, so a failing case can be replayed.
/// </summary>
internal static partial class Mutations
{
    private static readonly string[] s_numbers =
        ["-1", "0", "1", "7", "-9223372036854775808", "9223372036854775807", "18446744073709551615", "1e308", "-1e308", "0.5", "1e-9", "4294967296", "2147483648"];

    private static readonly string[] s_values = ["null", "true", "\"\"", "\"x\"", "[]", "{}", "[null]", "[-1, 2]", "{\"a\": 1}", "\"../../etc/passwd\"", "\"/tmp/x\""];

    private static readonly string[] s_tokens = ["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "\u00ff", "\"a\":", ",,", "null"];

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][-+]?\d+)?")]
    private static partial Regex Number();

    [GeneratedRegex("\"[^\"\\\\]*\"\\s*:")]
    private static partial Regex Key();

    /// <summary>One random mutation of <paramref name="file"/>; <paramref name="textStart"/> is where its JSON text begins (8 for safetensors).</summary>
    public static (byte[] Bytes, string What) Apply(byte[] file, int textStart, Random random)
    {
        var kind = random.Next(textStart > 0 ? 7 : 6);
        return kind switch
        {
            0 => FlipBits(file, textStart, random),
            1 => Truncate(file, random),
            2 or 3 or 4 => EditText(file, textStart, random),
            5 => Splice(file, textStart, random),
            _ => RewriteLength(file, random),
        };
    }

    private static (byte[], string) FlipBits(byte[] file, int textStart, Random random)
    {
        var copy = (byte[])file.Clone();
        var flips = random.Next(1, 5);
        var at = new List<int>();
        for (var i = 0; i < flips; i++)
        {
            // Mostly in the prefix and the JSON, where a flip changes meaning; sometimes anywhere.
            var end = random.Next(4) == 0 ? copy.Length : Math.Min(copy.Length, textStart + JsonLength(file, textStart));
            var p = random.Next(Math.Max(1, end));
            copy[p] ^= (byte)(1 << random.Next(8));
            at.Add(p);
        }
        return (copy, $"bit flips at [{string.Join(", ", at)}]");
    }

    private static (byte[], string) Truncate(byte[] file, Random random)
    {
        var length = random.Next(file.Length);
        return (file[..length], $"truncated to {length} bytes");
    }

    private static (byte[], string) RewriteLength(byte[] file, Random random)
    {
        var copy = (byte[])file.Clone();
        var actual = BinaryPrimitives.ReadUInt64LittleEndian(copy);
        ulong[] choices = [0, 1, 7, actual - 1, actual + 1, actual + 8, (ulong)file.Length, (ulong)file.Length - 8, ulong.MaxValue, long.MaxValue, 1UL << 32, 100UL << 20];
        var value = random.Next(3) == 0 ? (ulong)random.NextInt64() : choices[random.Next(choices.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(copy, value);
        return (copy, $"length prefix set to {value}");
    }

    /// <summary>Replaces one number, value or key of the JSON text, or inserts a stray token.</summary>
    private static (byte[], string) EditText(byte[] file, int textStart, Random random)
    {
        var text = Encoding.UTF8.GetString(file, textStart, JsonLength(file, textStart));
        string edited, what;
        switch (random.Next(5))
        {
            case 0:
                {
                    var matches = Number().Matches(text);
                    if (matches.Count == 0)
                    {
                        goto default;
                    }
                    var m = matches[random.Next(matches.Count)];
                    var replacement = s_numbers[random.Next(s_numbers.Length)];
                    edited = text[..m.Index] + replacement + text[(m.Index + m.Length)..];
                    what = $"number '{m.Value}' at {m.Index} set to {replacement}";
                    break;
                }
            case 1:
                {
                    var matches = Key().Matches(text);
                    if (matches.Count == 0)
                    {
                        goto default;
                    }
                    // Duplicate one "key": value pair (up to the next comma or closing brace at any depth).
                    var m = matches[random.Next(matches.Count)];
                    var end = ValueEnd(text, m.Index + m.Length);
                    var pair = text[m.Index..end];
                    edited = text[..m.Index] + pair + ", " + text[m.Index..];
                    what = $"pair {Short(pair)} duplicated";
                    break;
                }
            case 2:
                {
                    var matches = Key().Matches(text);
                    if (matches.Count == 0)
                    {
                        goto default;
                    }
                    var m = matches[random.Next(matches.Count)];
                    var end = ValueEnd(text, m.Index + m.Length);
                    var value = s_values[random.Next(s_values.Length)];
                    edited = text[..(m.Index + m.Length)] + " " + value + text[end..];
                    what = $"value of {m.Value} replaced by {value}";
                    break;
                }
            case 3:
                {
                    var matches = Key().Matches(text);
                    if (matches.Count == 0)
                    {
                        goto default;
                    }
                    var m = matches[random.Next(matches.Count)];
                    var end = ValueEnd(text, m.Index + m.Length);
                    edited = text[..m.Index] + text[end..].TrimStart(',');
                    what = $"pair at {m.Index} {Short(text[m.Index..end])} removed";
                    break;
                }
            default:
                {
                    var at = random.Next(text.Length + 1);
                    var token = s_tokens[random.Next(s_tokens.Length)];
                    edited = text[..at] + token + text[at..];
                    what = $"'{token}' inserted at {at}";
                    break;
                }
        }
        return (Rebuild(file, textStart, edited), what);
    }

    /// <summary>Copies a random slice of the file over another place.</summary>
    private static (byte[], string) Splice(byte[] file, int textStart, Random random)
    {
        var copy = (byte[])file.Clone();
        var length = random.Next(1, Math.Max(2, Math.Min(64, copy.Length / 4)));
        var from = random.Next(copy.Length - length);
        var to = random.Next(textStart, Math.Max(textStart + 1, copy.Length - length));
        Array.Copy(file, from, copy, to, Math.Min(length, copy.Length - to));
        return (copy, $"{length} bytes from {from} copied to {to}");
    }

    /// <summary>The file with its JSON text replaced; a safetensors length prefix is rewritten to match (padded to 8 bytes).</summary>
    private static byte[] Rebuild(byte[] file, int textStart, string text)
    {
        var json = Encoding.UTF8.GetBytes(text);
        if (textStart == 0)
        {
            return json;
        }
        var oldLength = JsonLength(file, textStart);
        var padded = (json.Length + 7) / 8 * 8;
        var result = new byte[8 + padded + (file.Length - textStart - oldLength)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        json.CopyTo(result, 8);
        result.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        file.AsSpan(textStart + oldLength).CopyTo(result.AsSpan(8 + padded));
        return result;
    }

    /// <summary>Bytes of JSON text: the whole file for a manifest, the header length for safetensors.</summary>
    private static int JsonLength(byte[] file, int textStart) =>
        textStart == 0 ? file.Length : (int)BinaryPrimitives.ReadUInt64LittleEndian(file);

    /// <summary>Where the JSON value starting at <paramref name="start"/> ends (before the comma or closing bracket that follows it).</summary>
    private static int ValueEnd(string text, int start)
    {
        var depth = 0;
        var inString = false;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }
                continue;
            }
            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{' or '[':
                    depth++;
                    break;
                case '}' or ']' when depth == 0:
                    return i;
                case '}' or ']':
                    depth--;
                    break;
                case ',' when depth == 0:
                    return i;
            }
        }
        return text.Length;
    }

    private static string Short(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
