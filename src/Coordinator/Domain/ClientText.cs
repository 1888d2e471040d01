using System.Text;
using Adan.Coordinator.Protocol;

namespace Adan.Coordinator.Domain;

/// <summary>
/// Text fields a client sends (host, failure message, abort reason), bounded in size and made printable before the
/// coordinator stores, logs or serves them.
/// </summary>
internal static class ClientText
{
    /// <summary><paramref name="value"/> with control characters replaced (see <see cref="PrintableText"/>), if it fits.</summary>
    /// <param name="field">The field's name on the wire, for the error.</param>
    /// <param name="value">What the client sent.</param>
    /// <param name="maxBytes">The most UTF-8 bytes allowed.</param>
    /// <exception cref="CoordinatorException">InvalidArgument naming the field, its size and the limit.</exception>
    public static string Bounded(string field, string value, int maxBytes)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes > maxBytes)
        {
            throw CoordinatorException.InvalidArgument($"{field} is {bytes} bytes, more than the {maxBytes} allowed (send one line of diagnosis)");
        }
        return PrintableText.Of(value);
    }
}
