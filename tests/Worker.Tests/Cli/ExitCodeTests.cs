using System.Net;
using System.Net.Sockets;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// One exit-code convention for every <c>adan</c> command family, as a user meets it: 2 and one stderr line naming the
/// problem for a usage error (nothing on stdout, no help dump, no stack trace), 1 for a failure at run time, 0 for help.
/// </summary>
public class ExitCodeTests
{
    [Theory]
    [InlineData("", "adan", "Required command")]
    [InlineData("trian", "adan", "unrecognized argument(s): trian")]
    [InlineData("train --bogus", "adan train", "--bogus")]
    [InlineData("train --set micro_batch=0", "adan train", "micro_batch")]
    [InlineData("train --config /nonexistent/run.json", "adan train", "/nonexistent/run.json")]
    [InlineData("train --telemetry loud", "adan train", "'loud'")]
    [InlineData("launch -- train", "adan launch", "'-n' is required")]
    [InlineData("launch -n 0 -- train", "adan launch", "-n 0")]
    [InlineData("launch -n 1 --coordinator nope -- train", "adan launch", "'nope' is not an http:// or https:// URL")]
    [InlineData("launch -n 1 --heartbeat-timeout NaN -- train", "adan launch", "at most 86400")]
    [InlineData("launch -n 1 --heartbeat-timeout 1e300 -- train", "adan launch", "--heartbeat-timeout 1e300")]
    [InlineData("launch -n 1 --heartbeat-timeout inf -- train", "adan launch", "--heartbeat-timeout inf")]
    [InlineData("launch -n 1 --heartbeat-timeout -Infinity -- train", "adan launch", "> 0")]
    [InlineData("launch -n 65537 -- train", "adan launch", "[1, 65536]")]
    [InlineData("launch -n 1e300 -- train", "adan launch", "-n 1e300")]
    [InlineData("launch -n NaN -- train", "adan launch", "-n NaN")]
    [InlineData("launch -n 1 --tls-cert /nonexistent/c.pem --tls-key /nonexistent/k.pem -- train", "adan launch", "/nonexistent/c.pem")]
    [InlineData("launch -n 1 --tls-key /etc/hostname -- train", "adan launch", "--tls-cert and --tls-key go together")]
    [InlineData("launch -n 1 --tls-ca /etc/hostname -- train", "adan launch", "no PEM certificate")]
    [InlineData("launch -n 1 --listen 0.0.0.0:0 -- train", "adan launch", "--insecure")]
    [InlineData("coordinator --data-dir /tmp/x --heartbeat-timeout 1e300", "adan coordinator", "'1e300'")]
    [InlineData("coordinator --data-dir /tmp/x --job-ttl Infinity", "adan coordinator", "'Infinity'")]
    [InlineData("coordinator --data-dir /tmp/x --max-watch-streams -1", "adan coordinator", "'-1'")]
    [InlineData("bench zero --stage 3", "adan bench zero", "'3'")]
    [InlineData("bench optimizer --params 0", "adan bench optimizer", "--params")]
    [InlineData("bench", "adan bench", "Required command")]
    [InlineData("checkpoint verify", "adan checkpoint verify", "missing")]
    [InlineData("checkpoint export /tmp", "adan checkpoint export", "--out")]
    [InlineData("coordinator --bogus --data-dir /tmp/x", "adan coordinator", "--bogus")]
    [InlineData("mpi-check --ranks 2", "adan mpi-check", "--ranks")]
    public void AUsageErrorIsOneLineNamingTheProblemAndExitCodeTwo(string arguments, string command, string named)
    {
        var result = AdanCli.Run(arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries), TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.Describe());
        Assert.True(result.Stdout.Length == 0, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(command + ": ", line);
        Assert.Contains(named, line);
    }

    [Fact]
    public void ACheckpointThatIsNotThereIsARunTimeFailure()
    {
        using var temp = TestFiles.CreateTempDirectory();
        foreach (var subcommand in new[] { "verify", "inspect" })
        {
            var result = AdanCli.Run(["checkpoint", subcommand, temp.Path], TimeSpan.FromMinutes(1));
            Assert.True(result.ExitCode == 1, result.Describe());
            var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"adan checkpoint {subcommand}: ", line);
            Assert.Contains(temp.Path, line);
        }
    }

    [Fact]
    public void MissingTrainingDataIsARunTimeFailureOfTrainAndLaunch()
    {
        string[] train = ["train", "--set", "model=mlp", "--set", "data_dir=/nonexistent/fashion", "--set", "resume=none"];
        var alone = AdanCli.Run(train, TimeSpan.FromMinutes(1));
        Assert.True(alone.ExitCode == 1, alone.Describe());
        Assert.Matches("(?m)^adan train: .*not found in '/nonexistent/fashion'", alone.Stderr);

        var launched = AdanCli.Run(["launch", "-n", "1", "--", .. train], TimeSpan.FromMinutes(2));
        Assert.True(launched.ExitCode == 1, launched.Describe());
        Assert.Matches("(?m)^adan launch: job \\S+ failed", launched.Stderr);
    }

    [Fact]
    public void ACoordinatorThatCannotListenIsARunTimeFailure()
    {
        using var temp = TestFiles.CreateTempDirectory();
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var result = AdanCli.Run(["coordinator", "--listen", $"127.0.0.1:{port}", "--data-dir", temp.Path], TimeSpan.FromMinutes(1),
            new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "exit-code-test" });
        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.Matches("(?m)^adan coordinator: cannot start", result.Stderr);
    }

    [Fact]
    public void HelpIsSuccess()
    {
        var result = AdanCli.Run(["train", "--help"], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("--set", result.Stdout);
    }
}
