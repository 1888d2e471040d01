using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Adan.Coordinator.Protocol;
using Grpc.Net.Client;

namespace Adan.Coordinator.Client;

/// <summary>
/// Opens gRPC channels to a coordinator: h2c for <c>http://</c>, TLS for <c>https://</c>, trusting either the system
/// store or, with a CA file, only the certificates in it (a cluster's own CA, or a self-signed certificate).
/// </summary>
public static class CoordinatorChannel
{
    /// <summary>A channel to <paramref name="address"/>, sized for the coordinator's message limit.</summary>
    /// <param name="address">The coordinator's URL.</param>
    /// <param name="trustedCaFile">PEM file of the CA certificate(s) to trust for <c>https://</c>; null trusts the system store.</param>
    /// <exception cref="ArgumentException">The CA file holds no certificate or cannot be read; the message names it.</exception>
    public static GrpcChannel Create(Uri address, string? trustedCaFile = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        if (trustedCaFile is not null)
        {
            var authorities = LoadAuthorities(trustedCaFile);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, presented, errors) =>
                certificate is not null
                // A wrong host name is never excused; only the chain is judged again, against the given CA alone.
                && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
                && ChainsTo(certificate, presented, authorities);
        }
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = CoordinatorLimits.MaxMessageBytes,
            MaxSendMessageSize = CoordinatorLimits.MaxMessageBytes,
        });
    }

    /// <summary>The certificates of a PEM file.</summary>
    /// <exception cref="ArgumentException">The file is missing, unreadable or holds no certificate.</exception>
    public static X509Certificate2Collection LoadAuthorities(string trustedCaFile)
    {
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(trustedCaFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"--tls-ca {trustedCaFile}: cannot read a PEM certificate: {e.Message}", e);
        }
        return authorities.Count > 0
            ? authorities
            : throw new ArgumentException($"--tls-ca {trustedCaFile}: no PEM certificate in the file (expected -----BEGIN CERTIFICATE-----)");
    }

    /// <summary>
    /// Whether the server's certificate chains to one of <paramref name="authorities"/> through the intermediates the
    /// server presented (a CA file usually holds only the root), and may authenticate a server (extended key usage
    /// serverAuth, when it has an EKU extension at all): a certificate issued only for client authentication is refused.
    /// </summary>
    internal static bool ChainsTo(X509Certificate certificate, X509Chain? presented, X509Certificate2Collection authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        // A private CA publishes no revocation lists the ranks could reach.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuthentication));
        if (presented is not null)
        {
            // Intermediates only help to build a path; trust still comes from the CA file alone.
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
}
