using System.Globalization;
using System.Net;

namespace Adan.Coordinator.Hosting;

/// <summary>A <c>HOST:PORT</c> pair to listen on; port 0 asks the OS for a free port.</summary>
/// <param name="Host">An IP address, <c>localhost</c>, or <c>*</c> for every interface.</param>
/// <param name="Port">TCP port in [0, 65535].</param>
public sealed record ListenAddress(string Host, int Port)
{
    /// <summary>Parses <c>HOST:PORT</c>, <c>[IPv6]:PORT</c> or <c>*:PORT</c>.</summary>
    /// <exception cref="FormatException">The text is not such a pair; the message names it.</exception>
    public static ListenAddress Parse(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            throw new FormatException($"Invalid listen address: '{text}' (expected HOST:PORT, e.g. 127.0.0.1:50051)");
        }
        var host = text[..colon].Trim('[', ']');
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw new FormatException($"Invalid listen port: '{text[(colon + 1)..]}' in '{text}' (expected 0 to 65535)");
        }
        var address = new ListenAddress(host, port);
        _ = address.ToIPAddress();
        return address;
    }

    /// <summary>The IP address Kestrel binds to.</summary>
    /// <exception cref="FormatException">The host is neither an IP address, <c>localhost</c> nor <c>*</c>.</exception>
    public IPAddress ToIPAddress()
    {
        if (Host == "*")
        {
            return IPAddress.Any;
        }
        if (string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            // One concrete address: Kestrel cannot bind "localhost" to a dynamic port.
            return IPAddress.Loopback;
        }
        return IPAddress.TryParse(Host, out var ip)
            ? ip
            : throw new FormatException($"Invalid listen host: '{Host}' (expected an IP address, localhost or *)");
    }

    /// <summary>True for an address only this machine can reach (127.0.0.0/8, ::1, localhost); <c>*</c> and any other address are not.</summary>
    public bool IsLoopback => Host != "*" && IPAddress.IsLoopback(ToIPAddress());

    /// <inheritdoc />
    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
