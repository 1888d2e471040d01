using System.Net;
using System.Net.Sockets;
using Adan.TestSupport;

namespace Adan.Worker.Tests.Cli;

/// <summary><c>adan launch</c> over TLS, with per-job tokens, and its one-line refusals.</summary>
public class LaunchSecurityTests
{
    [Fact]
    public void LaunchServesItsCoordinatorOverTlsAndTheRanksTrustTheGivenCa()
    {
        using var certificate = SelfSignedCertificate.Create();
        var runDir = Directory.CreateTempSubdirectory("adan-cli-tls-").FullName;
        try
        {
            var result = AdanCli.Run(["launch", "-n", "2", "--tls-cert", certificate.CertificateFile, "--tls-key", certificate.KeyFile,
                "--tls-ca", certificate.CertificateFile, "--", .. AdanCli.TinyTrain, "--set", "checkpoint_every=4", "--set", $"run_dir={runDir}"], TimeSpan.FromMinutes(3));
            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.StartsWith("summary: ", result.StdoutLines[^1]);
            // The checkpoints were committed through the TLS coordinator.
            Assert.NotEmpty(Directory.EnumerateFiles(runDir, "manifest.json", SearchOption.AllDirectories));
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public void RanksThatDoNotTrustTheCertificateFailWithOneLineNotAStackTrace()
    {
        using var certificate = SelfSignedCertificate.Create();
        var result = AdanCli.Run(["launch", "-n", "1", "--tls-cert", certificate.CertificateFile, "--tls-key", certificate.KeyFile, "--", .. AdanCli.TinyTrain],
            TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 1, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("adan launch: cannot reach the coordinator at https://127.0.0.1:", line);
        Assert.Contains("--tls-ca", line);
    }

    [Fact]
    public async Task AWrongOperatorTokenIsOneLineNamingTheFix()
    {
        var dataDir = Directory.CreateTempSubdirectory("adan-cli-wrongtoken-").FullName;
        using var coordinator = AdanCli.Start(["coordinator", "--listen", "127.0.0.1:0", "--data-dir", dataDir],
            new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "the-right-token" });
        try
        {
            var listening = await coordinator.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var url = listening!["listening on ".Length..];
            var result = AdanCli.Run(["launch", "-n", "2", "--coordinator", url, "--", .. AdanCli.TinyTrain], TimeSpan.FromMinutes(1),
                new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "a-wrong-token" });
            Assert.True(result.ExitCode == 1, result.Describe());
            var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"adan launch: the coordinator at {url.TrimEnd('/')} refused the token in ADAN_JOB_TOKEN", line);
            Assert.Contains("--token-file", line);
        }
        finally
        {
            coordinator.Kill(entireProcessTree: true);
            await coordinator.WaitForExitAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public void AnUnreachableCoordinatorIsOneLineNamingTheUrl()
    {
        // A port that was free a moment ago: nothing listens there.
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var result = AdanCli.Run(["launch", "-n", "2", "--coordinator", $"http://127.0.0.1:{port}", "--", .. AdanCli.TinyTrain], TimeSpan.FromMinutes(1),
            new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "some-token" });
        Assert.True(result.ExitCode == 1, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"adan launch: cannot reach the coordinator at http://127.0.0.1:{port}", line);
    }

    [Fact]
    public void ARankRefusesPlaintextToAnotherHostThatLaunchDidNotAllow()
    {
        // A rank started by hand (or by a launcher without --insecure) with a remote http:// coordinator.
        var result = AdanCli.Run([.. AdanCli.TinyTrain], TimeSpan.FromMinutes(1), new Dictionary<string, string>
        {
            ["ADAN_COORDINATOR"] = "http://192.0.2.1:50051", ["ADAN_JOB_TOKEN"] = "some-token", ["ADAN_JOB_ID"] = "job",
        });
        Assert.True(result.ExitCode == 1, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("ADAN_COORDINATOR='http://192.0.2.1:50051' is plaintext to another host", line);
        Assert.Contains("--insecure", line);
    }

    [Fact]
    public void LaunchWithInsecureLetsItsRanksUsePlaintextToTheAdvertisedAddress()
    {
        // A non-loopback address of this machine, which the launched coordinator (bound to 0.0.0.0) is reached by.
        var address = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        if (address is null)
        {
            return; // no network but loopback here
        }
        var runDir = Directory.CreateTempSubdirectory("adan-cli-insecure-").FullName;
        try
        {
            var result = AdanCli.Run(["launch", "-n", "1", "--listen", "0.0.0.0:0", "--advertise", address.ToString(), "--insecure", "--",
                .. AdanCli.TinyTrain, "--set", "checkpoint_every=4", "--set", $"run_dir={runDir}"], TimeSpan.FromMinutes(2));
            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.NotEmpty(Directory.EnumerateFiles(runDir, "manifest.json", SearchOption.AllDirectories));
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public void PlaintextToAnotherHostNeedsInsecure()
    {
        var result = AdanCli.Run(["launch", "-n", "1", "--coordinator", "http://192.0.2.1:50051", "--", .. AdanCli.TinyTrain], TimeSpan.FromMinutes(1),
            new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "some-token" });
        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--insecure", line);
    }
}
