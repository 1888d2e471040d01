using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Adan.Worker.Tests;

/// <summary><c>adan coordinator</c> run as a user runs it: a separate process from the Worker's build output.</summary>
public sealed partial class CoordinatorCommandTests
{
    [GeneratedRegex(@"^listening on http://127\.0\.0\.1:(\d+)$")]
    private static partial Regex ListeningLine();

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task PrintsTheRealPortOnceListening()
    {
        var dataDir = Directory.CreateTempSubdirectory("adan-cli-coord-").FullName;
        var tokenFile = Path.Combine(dataDir, "token");
        await File.WriteAllTextAsync(tokenFile, "cli-test-token\n");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var process = Start($"coordinator --listen 127.0.0.1:0 --token-file {tokenFile} --data-dir {dataDir}");
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var match = ListeningLine().Match(line ?? "");
            Assert.True(match.Success, $"unexpected first line: '{line}'; stderr: {(process.HasExited ? await process.StandardError.ReadToEndAsync() : "")}");
            var port = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(port, 1, 65535);
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync("127.0.0.1", port);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>
    /// A supervisor's <c>kill -9</c> of <c>adan coordinator</c> leaves no server holding the port or the data directory:
    /// a coordinator restarted on the same port and directory listens.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task ASigkilledCoordinatorLeavesItsPortForTheNextOne()
    {
        var dataDir = Directory.CreateTempSubdirectory("adan-cli-coord-kill-").FullName;
        try
        {
            int port;
            using (var first = Start($"coordinator --listen 127.0.0.1:0 --data-dir {dataDir}"))
            {
                var line = await first.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                var match = ListeningLine().Match(line ?? "");
                Assert.True(match.Success, $"unexpected first line: '{line}'");
                port = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                first.Kill();
                await first.WaitForExitAsync();
            }
            var gone = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (Cli.ProcessTable.WithArgument(dataDir).Count > 0)
            {
                Assert.True(DateTime.UtcNow < gone, $"a server (pid {string.Join(", ", Cli.ProcessTable.WithArgument(dataDir))}) outlived its killed adan by 10 s");
                await Task.Delay(20);
            }

            // The kernel frees the port with the last process holding it; a restart needs no wait, but may meet a slow start.
            using var second = Start($"coordinator --listen 127.0.0.1:{port} --data-dir {dataDir}");
            try
            {
                var line = await second.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                Assert.True(line == $"listening on http://127.0.0.1:{port}",
                    $"the restarted coordinator printed '{line}': {(second.HasExited ? await second.StandardError.ReadToEndAsync() : "")}");
            }
            finally
            {
                second.Kill();
                await second.WaitForExitAsync();
            }
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Theory]
    [InlineData("coordinator --bogus --data-dir /tmp/x", "--bogus")]
    [InlineData("coordinator --listen nowhere --data-dir /tmp/x", "nowhere")]
    [InlineData("coordinator --data-dir /tmp/x --heartbeat-timeout -3", "--heartbeat-timeout")]
    public async Task BadFlagsPrintOneLineAndExitWithTwo(string arguments, string named)
    {
        using var process = Start(arguments);
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, process.ExitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("adan coordinator: ", lines[0]);
        Assert.Contains(named, lines[0]);
    }

    private static Process Start(string arguments)
    {
        var info = new ProcessStartInfo(Cli.AdanCli.Executable, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ADAN_JOB_TOKEN"] = "env-token";
        return Process.Start(info)!;
    }
}
