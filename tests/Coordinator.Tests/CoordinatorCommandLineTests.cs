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

    private static (int ExitCode, string Stderr) Run(params string[] args)
    {
        var root = new RootCommand();
        CoordinatorCommandLine.Configure(root);
        var error = new StringWriter();
        var exitCode = root.Parse(args).Invoke(new InvocationConfiguration { Output = new StringWriter(), Error = error });
        return (exitCode, error.ToString());
    }
}
