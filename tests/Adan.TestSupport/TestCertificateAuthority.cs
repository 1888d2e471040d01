using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Adan.TestSupport;

/// <summary>
/// A root CA made at test time, with an optional intermediate, issuing leaf certificates for 127.0.0.1 and localhost
/// as PEM files: for TLS tests of chains (root-only CA files) and of key usages.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly ECDsa _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _root;

    /// <summary>Makes a root CA valid from a day ago for a month.</summary>
    public TestCertificateAuthority()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("adan-ca-").FullName;
        _root = Authority("CN=adan-test-root", _rootKey, issuer: null, issuerKey: null);
        File.WriteAllText(RootFile, _root.ExportCertificatePem());
    }

    /// <summary>The folder holding the files.</summary>
    public string Directory { get; }

    /// <summary>The root's certificate alone, PEM: the CA file a client trusts.</summary>
    public string RootFile => Path.Combine(Directory, "root.crt");

    /// <summary>
    /// Writes a leaf for 127.0.0.1 and localhost as <c>NAME.crt</c> (the leaf, then the intermediate when there is
    /// one, as a server presents its chain) and <c>NAME.key</c>.
    /// </summary>
    /// <param name="name">The files' base name.</param>
    /// <param name="throughIntermediate">Issue it from an intermediate CA instead of the root.</param>
    /// <param name="clientAuthenticationOnly">Give it the clientAuth extended key usage only (not serverAuth).</param>
    /// <returns>The certificate file and the key file.</returns>
    public (string CertificateFile, string KeyFile) IssueServer(string name, bool throughIntermediate = false, bool clientAuthenticationOnly = false)
    {
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediate = throughIntermediate ? Authority("CN=adan-test-intermediate", intermediateKey, _root, _rootKey) : null;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=adan-test-server", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(clientAuthenticationOnly ? ClientAuthentication : ServerAuthentication)], critical: false));
        var (issuer, issuerKey) = intermediate is not null ? (intermediate, intermediateKey) : (_root, _rootKey);
        using var leaf = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(8));
        var certificateFile = Path.Combine(Directory, $"{name}.crt");
        var keyFile = Path.Combine(Directory, $"{name}.key");
        File.WriteAllText(certificateFile, leaf.ExportCertificatePem() + "\n" + (intermediate?.ExportCertificatePem() ?? ""));
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certificateFile, keyFile);
    }

    private static X509Certificate2 Authority(string subject, ECDsa key, X509Certificate2? issuer, ECDsa? issuerKey)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var (from, until) = (DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(30));
        return issuer is null
            ? request.CreateSelfSigned(from, until)
            : request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey!), from.AddHours(1), until.AddHours(-1), RandomNumberGenerator.GetBytes(8));
    }

    /// <summary>Deletes the files.</summary>
    public void Dispose()
    {
        _root.Dispose();
        _rootKey.Dispose();
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
