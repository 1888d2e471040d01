using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Adan.TestSupport;

/// <summary>
/// A self-signed TLS certificate for 127.0.0.1 and localhost (or for given names only), made at test time and written as PEM files, so TLS tests
/// need no checked-in key and no openssl.
/// </summary>
public sealed class SelfSignedCertificate : IDisposable
{
    private SelfSignedCertificate(string directory)
    {
        Directory = directory;
    }

    /// <summary>The folder holding the files.</summary>
    public string Directory { get; }

    /// <summary>The certificate, PEM; also the CA file a client trusts.</summary>
    public string CertificateFile => Path.Combine(Directory, "coordinator.crt");

    /// <summary>Its private key, PEM (PKCS#8).</summary>
    public string KeyFile => Path.Combine(Directory, "coordinator.key");

    /// <summary>
    /// Makes a certificate valid from a day ago for a week, for 127.0.0.1, ::1, localhost and the given addresses (e.g. a
    /// test bridge's, for a coordinator other hosts reach).
    /// </summary>
    public static SelfSignedCertificate Create(params string[] addresses) =>
        Create(["localhost"], [IPAddress.Loopback, IPAddress.IPv6Loopback, .. addresses.Select(IPAddress.Parse)]);

    /// <summary>
    /// Makes a certificate for these DNS names only, no address: a client reaches it by one of the names or fails the
    /// handshake (e.g. <c>localhost</c> only, for a coordinator reached by name rather than by 127.0.0.1).
    /// </summary>
    public static SelfSignedCertificate CreateForNames(params string[] dnsNames) => Create(dnsNames, []);

    private static SelfSignedCertificate Create(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("adan-tls-").FullName;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=adan-test-coordinator", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }
        foreach (var name in dnsNames)
        {
            names.AddDnsName(name);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, critical: false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        var result = new SelfSignedCertificate(directory);
        File.WriteAllText(result.CertificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(result.KeyFile, key.ExportPkcs8PrivateKeyPem());
        return result;
    }

    /// <summary>Deletes the files.</summary>
    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is not a test failure.
        }
    }
}
