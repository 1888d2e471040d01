using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
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

    [Fact]
    public async Task AChainThroughAnIntermediateIsAcceptedWithOnlyTheRootInTheCaFile()
    {
        using var authority = new TestCertificateAuthority();
        var (certificate, key) = authority.IssueServer("server", throughIntermediate: true);
        await using var host = await StartTlsAsync(certificate, key);
        using var channel = CoordinatorChannel.Create(host.Address, authority.RootFile);
        Assert.NotEmpty(await CoordinatorClient.CreateJobAsync(channel, Token, "job", 1, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task ACertificateForClientAuthenticationOnlyIsRefusedAsAServer()
    {
        using var authority = new TestCertificateAuthority();
        var (certificate, key) = authority.IssueServer("client-only", clientAuthenticationOnly: true);
        // Kestrel will not serve such a certificate; a hostile or misconfigured server would, so a bare TLS listener
        // presents it and records whether the client went on to speak HTTP/2 over it.
        using var serverCertificate = X509Certificate2.CreateFromPemFile(certificate, key);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var handshake = Task.Run(async () =>
        {
            using var tcp = await listener.AcceptTcpClientAsync();
            await using var tls = new SslStream(tcp.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = serverCertificate,
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                });
                // With TLS 1.3 the server finishes before the client judged its certificate: a client that accepted
                // it sends the HTTP/2 preface (and would send the token next); one that refused it closes.
                var preface = new byte[3];
                return await tls.ReadAtLeastAsync(preface, preface.Length, throwOnEndOfStream: false) == preface.Length;
            }
            catch (Exception e) when (e is AuthenticationException or IOException)
            {
                return false;
            }
        });
        var address = new Uri($"https://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}");
        using var channel = CoordinatorChannel.Create(address, authority.RootFile);
        var e = await Assert.ThrowsAsync<RpcException>(() => CoordinatorClient.CreateJobAsync(channel, Token, "job", 1, TimeSpan.FromSeconds(5)));
        Assert.False(await handshake.WaitAsync(TimeSpan.FromSeconds(10)), $"the client accepted a clientAuth-only certificate ({e.Status})");
        Assert.Contains("SSL", e.Status.Detail + e.Status.DebugException);

        // The same CA's server certificate is accepted: what was refused is the key usage.
        var (server, serverKey) = authority.IssueServer("server");
        await using var good = await StartTlsAsync(server, serverKey);
        using var trusting = CoordinatorChannel.Create(good.Address, authority.RootFile);
        Assert.NotEmpty(await CoordinatorClient.CreateJobAsync(trusting, Token, "job", 1, TimeSpan.FromSeconds(10)));
    }

    /// <summary>A TLS coordinator on a loopback port with its own data directory, removed when disposed.</summary>
    private sealed class TlsHost(CoordinatorHost host, Uri address, string data) : IAsyncDisposable
    {
        public Uri Address { get; } = address;

        public async ValueTask DisposeAsync()
        {
            await host.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    private static async Task<TlsHost> StartTlsAsync(string certificateFile, string keyFile)
    {
        var data = Directory.CreateTempSubdirectory("adan-tls-data-").FullName;
        var host = new CoordinatorHost(new CoordinatorOptions
        {
            Listen = new ListenAddress("127.0.0.1", 0),
            Token = Token,
            DataDirectory = data,
            TlsCertificateFile = certificateFile,
            TlsKeyFile = keyFile,
        });
        return new TlsHost(host, await host.StartAsync(), data);
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
