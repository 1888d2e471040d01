using System.Runtime.Versioning;

namespace Adan.Worker.Tests.Cli;

/// <summary><c>adan launch --token-file</c>: the job token from a file only its owner can read (deploy/slurm.sbatch).</summary>
[UnsupportedOSPlatform("windows")]
public class LaunchTokenFileTests
{
    [Theory]
    [InlineData("job-token\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, "chmod 600")]
    [InlineData("  \n", UnixFileMode.UserRead | UnixFileMode.UserWrite, "the file is empty")]
    public void AnOpenOrEmptyTokenFileIsAUsageError(string content, UnixFileMode mode, string named)
    {
        using var temp = TestFiles.CreateTempDirectory();
        var tokenFile = Path.Combine(temp.Path, "token");
        File.WriteAllText(tokenFile, content);
        File.SetUnixFileMode(tokenFile, mode);

        var result = AdanCli.Run(["launch", "-n", "1", "--token-file", tokenFile, "--", "train", "--set", "model=mlp"], TimeSpan.FromMinutes(1));

        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"--token-file {tokenFile}", line);
        Assert.Contains(named, line);
    }

    [Fact]
    public async Task LaunchJoinsACoordinatorWithTheTokenFromThePrivateFile()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var tokenFile = Path.Combine(temp.Path, "token");
        File.WriteAllText(tokenFile, "token-from-a-file\n");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var coordinator = AdanCli.Start(["coordinator", "--listen", "127.0.0.1:0", "--data-dir", Path.Combine(temp.Path, "coordinator"),
            "--token-file", tokenFile]);
        try
        {
            var listening = await coordinator.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.StartsWith("listening on http://127.0.0.1:", listening);

            // No ADAN_JOB_TOKEN: the launcher and its ranks know the token only from the file.
            var result = AdanCli.Run(["launch", "-n", "1", "--coordinator", listening!["listening on ".Length..], "--token-file", tokenFile, "--",
                "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=256", "--set", "test_subset=100", "--set", "epochs=1",
                "--set", "resume=none", "--set", $"run_dir={Path.Combine(temp.Path, "run")}"]);

            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.StartsWith("summary: ", result.StdoutLines[^1]);
        }
        finally
        {
            coordinator.Kill(entireProcessTree: true);
            await coordinator.WaitForExitAsync();
        }
    }
}
