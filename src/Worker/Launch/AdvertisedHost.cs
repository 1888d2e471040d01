using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Adan.Worker.Commands;

namespace Adan.Worker.Launch;

/// <summary>
/// <c>adan launch --advertise HOST</c>: the DNS name or address by which the ranks and the launcher reach the
/// coordinator that launch starts, in place of the address it bound (the port stays the bound one). A TLS certificate
/// can then name something known before the job runs — a Kubernetes launcher pod's name under its job's headless
/// Service, a Slurm node's name — instead of an address known only once the pod or node is up.
/// </summary>
internal sealed class AdvertisedHost
{
    /// <summary>What a valid value looks like, for the one-line usage error.</summary>
    public const string Rule = "expected a DNS name or IP address the ranks can reach this machine by, without scheme or port (e.g. --advertise node17.cluster)";

    private AdvertisedHost(string host)
    {
        Host = host;
    }

    /// <summary>The name or address (an IPv6 address without brackets).</summary>
    public string Host { get; }

    /// <summary>Parses <paramref name="text"/>: a DNS name, or an IPv4 or IPv6 address (brackets optional) that is not a wildcard.</summary>
    /// <returns>The host, or null with <paramref name="error"/> set.</returns>
    public static AdvertisedHost? Parse(string text, out string? error)
    {
        var host = text.Length > 2 && text[0] == '[' && text[^1] == ']' ? text[1..^1] : text;
        var kind = Uri.CheckHostName(host);
        if (kind is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6))
        {
            error = $"--advertise '{text}': {Rule}";
            return null;
        }
        if (kind != UriHostNameType.Dns && IPAddress.TryParse(host, out var address)
            && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
        {
            error = $"--advertise {text}: a wildcard address is where a server listens, not one a client can connect to; {Rule}";
            return null;
        }
        error = null;
        return new AdvertisedHost(host);
    }

    /// <summary>The coordinator's address under this host: the bound address's scheme and port.</summary>
    public Uri For(Uri bound) => new UriBuilder(bound.Scheme, Host, bound.Port).Uri;

    /// <summary>
    /// Refuses a certificate that does not name the host of <paramref name="address"/>: every rank would fail the TLS
    /// handshake with an error that does not say why. A file that is not PEM is left to the coordinator, which has loaded it.
    /// </summary>
    /// <exception cref="UsageException">The certificate names other hosts only.</exception>
    public static void CheckCertificateNames(FileInfo certificateFile, Uri address)
    {
        using var certificate = LoadPem(certificateFile);
        var host = address.HostNameType == UriHostNameType.IPv6 ? address.Host.Trim('[', ']') : address.IdnHost;
        if (certificate is null || certificate.MatchesHostname(host))
        {
            return;
        }
        throw new UsageException(
            $"--tls-cert {certificateFile.FullName} names {DescribeNames(certificate)}, not {host}, where the ranks are sent ({address.GetLeftPart(UriPartial.Authority)}); "
            + "give --advertise NAME with a name the certificate has, or a certificate for that host issued by the --tls-ca the ranks trust");
    }

    private static X509Certificate2? LoadPem(FileInfo file)
    {
        try
        {
            var text = File.ReadAllText(file.FullName);
            return text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal) ? X509Certificate2.CreateFromPem(text) : null;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    private static string DescribeNames(X509Certificate2 certificate)
    {
        var names = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension alternative)
            {
                names.AddRange(alternative.EnumerateDnsNames());
                names.AddRange(alternative.EnumerateIPAddresses().Select(a => a.ToString()));
            }
        }
        return names.Count > 0 ? string.Join(", ", names) : $"only its subject '{certificate.Subject}'";
    }
}
