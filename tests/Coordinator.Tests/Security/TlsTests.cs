using Adan.Coordinator.Client;
using Adan.Coordinator.Hosting;
using Adan.Coordinator.V1;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>TLS with a certificate made at test time, and the refusal of plaintext off loopback.</summary>
public sealed class TlsTests
{
    private const string Token = "operator-token-0123456789";

    [Fact]
    public async Task AClientTrustingTheCaReachesATlsCoordinatorAndOneWithoutItDoesNot()
    {
        using var certificate = SelfSignedCertificate.Create();
        var data = Directory.CreateTempSubdirectory("adan-tls-data-").FullName;
        try
        {
            await using var host = new CoordinatorHost(new CoordinatorOptions
            {
                Listen = new ListenAddress("127.0.0.1", 0),
                Token = Token,
                DataDirectory = data,
                TlsCertificateFile = certificate.CertificateFile,
                TlsKeyFile = certificate.KeyFile,
            });
            var address = await host.StartAsync();
            Assert.Equal("https", address.Scheme);

            using (var trusting = CoordinatorChannel.Create(address, certificate.CertificateFile))
            {
                var jobToken = await CoordinatorClient.CreateJobAsync(trusting, Token, "job", 1, TimeSpan.FromSeconds(10));
                await using var client = new CoordinatorClient(new CoordinatorClientOptions
                {
                    Address = address, Token = jobToken, JobId = "job", Rank = 0, WorldSize = 1, TrustedCaFile = certificate.CertificateFile,
                });
                Assert.Equal(JobState.Running, (await client.JoinAsync()).State);
            }

            // The system store does not know a self-signed certificate: the TLS handshake fails before any token is sent.
            using var untrusting = CoordinatorChannel.Create(address);
            var e = await Assert.ThrowsAsync<RpcException>(() => CoordinatorClient.CreateJobAsync(untrusting, Token, "other", 1, TimeSpan.FromSeconds(10)));
            Assert.Contains(e.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal });
            Assert.Contains("SSL", e.Status.Detail + e.Status.DebugException);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("*")]
    [InlineData("10.1.2.3")]
    public void PlaintextOffLoopbackIsRefusedWithoutInsecure(string host)
    {
        var options = new CoordinatorOptions { Listen = new ListenAddress(host, 0), Token = Token, DataDirectory = "/tmp/unused" };
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("without TLS", e.Message);
        Assert.Contains("--insecure", e.Message);
        (options with { Insecure = true }).Validate();
        (options with { TlsCertificateFile = "/some/cert.pem", TlsKeyFile = "/some/key.pem" }).Validate();
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    [InlineData("::1")]
    public void PlaintextOnLoopbackNeedsNoFlag(string host) =>
        new CoordinatorOptions { Listen = new ListenAddress(host, 0), Token = Token, DataDirectory = "/tmp/unused" }.Validate();
}
