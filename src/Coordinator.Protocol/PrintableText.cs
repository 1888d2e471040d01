using System.Text;

namespace Adan.Coordinator.Protocol;

/// <summary>
/// Text a client sent (a host, a failure message, an abort reason), made safe to log or print: control characters
/// (ANSI escapes, carriage returns, newlines that would forge log lines) become spaces.
/// </summary>
/// <remarks>Applied where the text enters the coordinator, and again where <c>adan</c> prints a reason it was served.</remarks>
public static class PrintableText
{
    /// <summary><paramref name="text"/> with every control character (C0, DEL, C1, and the bidi overrides) replaced by a space.</summary>
    public static string Of(string text)
    {
        if (!text.Any(IsUnsafe))
        {
            return text;
        }
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(IsUnsafe(c) ? ' ' : c);
        }
        return builder.ToString();
    }

    // Bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069) reorder what a terminal shows, as escapes do.
    private static bool IsUnsafe(char c) => char.IsControl(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';
}
