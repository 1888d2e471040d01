using System.CommandLine;
using Adan.Coordinator.Hosting;

namespace Adan.Coordinator.Tests;

/// <summary>
/// Flag validation in process: every refusal is one stderr line naming the flag, the value and the valid range, with
/// exit code 2, before anything starts. (The worker's tests run the same flags through <c>adan coordinator</c>.)
/// </summary>
public sealed class CoordinatorCommandLineTests
{
    [Theory]
    [InlineData("--heartbeat-timeout", "0", "at most 86400")]
    [InlineData("--heartbeat-timeout", "-3", "> 0")]
    [InlineData("--heartbeat-timeout", "NaN", "> 0")]
    [InlineData("--heartbeat-timeout", "Infinity", "at most 86400")]
    [InlineData("--heartbeat-timeout", "86401", "one day")]
    [InlineData("--heartbeat-timeout", "soon", "seconds")]
    [InlineData("--heartbeat-timeout", "1e300", "one day")]
    [InlineData("--heartbeat-timeout", "-Infinity", "> 0")]
    [InlineData("--job-ttl", "NaN", "30 days")]
    [InlineData("--job-ttl", "Infinity", "30 days")]
    [InlineData("--job-ttl", "1e300", "30 days")]
    [InlineData("--job-ttl", "0", "> 0")]
    [InlineData("--max-watch-streams", "0", ">= 1")]
    [InlineData("--max-watch-streams", "1e300", "integer")]
    [InlineData("--max-watch-streams", "NaN", "integer")]
    [InlineData("--keep-last", "99999999999", "integer")]
    [InlineData("--keep-last", "NaN", "integer")]
    [InlineData("--stall-timeout", "NaN", "> 0")]
    [InlineData("--stall-timeout", "-3", "> 0")]
    [InlineData("--stall-timeout", "Infinity", "at most 86400")]
    [InlineData("--join-timeout", "0", "> 0")]
    [InlineData("--join-timeout", "-Infinity", "> 0")]
    [InlineData("--join-timeout", "later", "seconds")]
    [InlineData("--keep-last", "-1", ">= 0")]
    [InlineData("--keep-last", "2.5", "integer")]
    [InlineData("--token-file", "/nonexistent/token", "does not exist")]
    [InlineData("--listen", "nowhere", "HOST:PORT")]
    public void ABadValueIsOneLineNamingFlagValueAndRange(string flag, string value, string range)
    {
        var (exitCode, stderr) = Run("--data-dir", Path.GetTempPath(), flag, value);
        Assert.Equal(CoordinatorCommandLine.UsageExitCode, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"adan coordinator: {flag}: ", line);
        Assert.Contains($"'{value}'", line);
        Assert.Contains(range, line);
    }

    [Fact]
    public void AMissingDataDirectoryIsAUsageError()
    {
        var (exitCode, stderr) = Run("--keep-last", "2");
        Assert.Equal(CoordinatorCommandLine.UsageExitCode, exitCode);
        Assert.StartsWith("adan coordinator: ", stderr);
        Assert.Contains("--data-dir", stderr);
    }

    [Fact]
    public void PlaintextOffLoopbackIsAOneLineUsageErrorNamingTheFix()
    {
        var tokenFile = Path.GetTempFileName();
        File.WriteAllText(tokenFile, "operator-token");
        var (exitCode, stderr) = Run("--data-dir", Path.GetTempPath(), "--token-file", tokenFile, "--listen", "0.0.0.0:0");
        File.Delete(tokenFile);
        Assert.Equal(CoordinatorCommandLine.UsageExitCode, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("without TLS", line);
        Assert.Contains("--insecure", line);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void ATokenFileOthersCanReadIsRefusedNamingTheFix()
    {
        var tokenFile = Path.GetTempFileName();
        File.WriteAllText(tokenFile, "operator-token");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        // Plaintext off loopback too: a coordinator that accepted the file stops there instead of serving.
        var (exitCode, stderr) = Run("--data-dir", Path.GetTempPath(), "--token-file", tokenFile, "--listen", "0.0.0.0:0");
        File.Delete(tokenFile);
        Assert.Equal(CoordinatorCommandLine.UsageExitCode, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"--token-file {tokenFile}: open to others (mode 644)", line);
        Assert.Contains($"chmod 600 {tokenFile}", line);
    }

    private static (int ExitCode, string Stderr) Run(params string[] args)
    {
        var root = new RootCommand();
        CoordinatorCommandLine.Configure(root);
        var error = new StringWriter();
        var exitCode = root.Parse(args).Invoke(new InvocationConfiguration { Output = new StringWriter(), Error = error });
        return (exitCode, error.ToString());
    }
}
