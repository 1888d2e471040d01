using Adan.TestSupport;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan launch --advertise HOST</c>: the ranks reach the coordinator launch starts by a name, so its TLS certificate
/// can name that (a Kubernetes launcher's DNS name) instead of an address known only once the job runs.
/// </summary>
public class LaunchAdvertiseTests
{
    [Fact]
    public void RanksReachTheCoordinatorByTheAdvertisedNameUnderTls()
    {
        // The certificate names localhost only: a rank sent to 127.0.0.1 would fail the handshake, so training proves
        // every rank (and the launcher) connected to https://localhost:PORT.
        using var certificate = SelfSignedCertificate.CreateForNames("localhost");
        var runDir = Directory.CreateTempSubdirectory("adan-cli-advertise-").FullName;
        try
        {
            var result = AdanCli.Run(["launch", "-n", "2", "--listen", "127.0.0.1:0", "--advertise", "localhost",
                "--tls-cert", certificate.CertificateFile, "--tls-key", certificate.KeyFile, "--tls-ca", certificate.CertificateFile,
                "--", .. AdanCli.TinyTrain, "--set", "checkpoint_every=4", "--set", $"run_dir={runDir}"], TimeSpan.FromMinutes(3));
            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.StartsWith("summary: ", result.StdoutLines[^1]);
            Assert.NotEmpty(Directory.EnumerateFiles(runDir, "manifest.json", SearchOption.AllDirectories));
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public void ACertificateThatDoesNotNameTheBoundAddressIsOneLineNamingAdvertise()
    {
        using var certificate = SelfSignedCertificate.CreateForNames("localhost");
        var result = AdanCli.Run(["launch", "-n", "2", "--listen", "127.0.0.1:0",
            "--tls-cert", certificate.CertificateFile, "--tls-key", certificate.KeyFile, "--tls-ca", certificate.CertificateFile, "--", .. AdanCli.TinyTrain],
            TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"adan launch: --tls-cert {certificate.CertificateFile} names localhost, not 127.0.0.1, where the ranks are sent (https://127.0.0.1:", line);
        Assert.Contains("--advertise", line);
        Assert.Contains("--tls-ca", line);
    }

    [Fact]
    public void ACertificateThatDoesNotNameTheAdvertisedHostIsOneLineNamingTheFix()
    {
        using var certificate = SelfSignedCertificate.Create();
        var result = AdanCli.Run(["launch", "-n", "2", "--advertise", "coordinator.invalid",
            "--tls-cert", certificate.CertificateFile, "--tls-key", certificate.KeyFile, "--tls-ca", certificate.CertificateFile, "--", .. AdanCli.TinyTrain],
            TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("names localhost, 127.0.0.1, ::1, not coordinator.invalid, where the ranks are sent (https://coordinator.invalid:", line);
        Assert.Contains("--advertise", line);
    }

    [Theory]
    [InlineData("")]
    [InlineData("http://node1")]
    [InlineData("node1:50051")]
    [InlineData("no spaces")]
    [InlineData("node1/x")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    public void AnInvalidAdvertisedHostIsAOneLineUsageError(string host)
    {
        var result = AdanCli.Run(["launch", "-n", "1", "--advertise", host, "--", .. AdanCli.TinyTrain], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--advertise", line);
        Assert.Contains("DNS name or IP address", line);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void AdvertiseWithAStandingCoordinatorIsAUsageError()
    {
        var result = AdanCli.Run(["launch", "-n", "1", "--coordinator", "https://127.0.0.1:1", "--advertise", "node1", "--", .. AdanCli.TinyTrain],
            TimeSpan.FromMinutes(1), new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "some-token" });
        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--advertise node1", line);
        Assert.Contains("--coordinator", line);
    }
}
