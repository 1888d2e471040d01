using System.Diagnostics;
using Adan.Coordinator.Client;
using Adan.Coordinator.V1;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// What a rank sends (its host, its failure message) reaches the built coordinator's log without control characters: no
/// escape sequence for the operator's terminal, no forged log line.
/// </summary>
public sealed class CoordinatorLogSafetyTests
{
    [Fact]
    public async Task AFailureReportsControlCharactersAreReplacedInTheCoordinatorsLog()
    {
        var dataDir = Directory.CreateTempSubdirectory("adan-cli-logsafety-").FullName;
        var tokenFile = Path.Combine(dataDir, "token");
        await File.WriteAllTextAsync(tokenFile, "log-safety-operator-token\n");
        if (!OperatingSystem.IsWindows())
        {
            // A coordinator may refuse a token file others can read.
            File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var info = new ProcessStartInfo(AdanCli.Executable,
            ["coordinator", "--listen", "127.0.0.1:0", "--token-file", tokenFile, "--data-dir", dataDir, "--stop-on-stdin-eof"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        try
        {
            var listening = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.StartsWith("listening on ", listening);
            var address = new Uri(listening!["listening on ".Length..]);
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(address);
            var token = await CoordinatorClient.CreateJobAsync(channel, "log-safety-operator-token", "job", 2, TimeSpan.FromSeconds(10));
            await using var rank1 = new CoordinatorClient(new CoordinatorClientOptions
            {
                Address = address, Token = token, JobId = "job", Rank = 1, WorldSize = 2, Host = "node-1\u001b]0;owned\u0007",
            }, channel);
            await rank1.JoinAsync();
            var reason = await rank1.ReportFailureAsync("out of memory\u001b[2J\r\n2026-01-01 warn: Job job finished cleanly", TimeSpan.FromSeconds(10));
            Assert.NotNull(reason);
            Assert.DoesNotContain(reason, char.IsControl);

            // Served back to the launcher as well, and its status line is what `adan launch` prints.
            var status = await new Jobs.JobsClient(channel).StatusAsync(new JobStatusRequest { JobId = "job" },
                new Grpc.Core.Metadata { { "authorization", $"Bearer {token}" } });
            Assert.Equal(JobState.Failed, status.State);

            process.StandardInput.Close();
            var log = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var line = Assert.Single(log.Split('\n'), l => l.Contains("out of memory", StringComparison.Ordinal));
            Assert.DoesNotContain('\u001b', log);
            Assert.DoesNotContain('\u0007', log);
            Assert.Contains("node-1 ]0;owned  pid", line);
            Assert.Contains("out of memory [2J 2026-01-01 warn: Job job finished cleanly", line);
            Assert.DoesNotContain(log.Split('\n'), l => l.StartsWith("2026-01-01", StringComparison.Ordinal));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            await process.WaitForExitAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
