using System.Diagnostics;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// A job never hangs and leaves nothing behind: <c>adan launch</c> runs of a tiny MLP with one rank made to fail
/// (<c>ADAN_TEST_FAULT</c>), a launcher stopped by a signal, a standalone coordinator killed mid-job.
/// </summary>
public sealed class LivenessTests : IDisposable
{
    private readonly string _runDir = Directory.CreateTempSubdirectory("adan-cli-liveness-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_runDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// A run that a test ends long before it could finish (32,000 small steps, minutes: 640 took under 2 s, little
    /// margin for a signal sent at step 5 on a loaded machine), printing every step.
    /// </summary>
    private string[] Train(int epochs = 2000) =>
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=512", "--set", "test_subset=100", "--set", $"epochs={epochs}",
        "--set", "micro_batch=16", "--set", "log_every=1", "--set", "resume=none", "--set", $"run_dir={_runDir}",
    ];

    [Theory]
    [InlineData("--stall-timeout", "NaN", "> 0")]
    [InlineData("--stall-timeout", "-1", "> 0")]
    [InlineData("--join-timeout", "Infinity", "at most 86400")]
    [InlineData("--grace-period", "-2", ">= 0")]
    public void ABadTimeoutIsAOneLineUsageError(string flag, string value, string rule)
    {
        var result = AdanCli.Run(["launch", "-n", "1", flag, value, "--", "train"], TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"adan launch: {flag} {value}: ", line);
        Assert.Contains(rule, line);
    }

    [Fact]
    public void ARankThatThrowsInTheFirstStepEndsTheJobNamingIt()
    {
        var watch = Stopwatch.StartNew();
        var result = AdanCli.Run(["launch", "-n", "2", "--heartbeat-timeout", "5", "--", .. Train()], TimeSpan.FromSeconds(90),
            new Dictionary<string, string> { ["ADAN_TEST_FAULT"] = "1:0:throw" });

        Assert.True(result.ExitCode == 1, result.Describe());
        // Start-up takes a few seconds on a busy machine; the failure itself ends the job within about one.
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 45);
        Assert.Matches(@"adan launch: job \S+ failed \(mpiexec exit code [1-9]\d*\): rank 1 \(\S+ pid \d+\) failed: .*injected fault before step 0", result.Stderr);
        Assert.DoesNotContain("summary: ", result.Stdout);
    }

    [Fact]
    public void ARankWhoseTrainingThreadBlocksIsFoundByTheStallTimeout()
    {
        var watch = Stopwatch.StartNew();
        var result = AdanCli.Run(["launch", "-n", "2", "--heartbeat-timeout", "3", "--stall-timeout", "4", "--", .. Train()], TimeSpan.FromSeconds(90),
            new Dictionary<string, string> { ["ADAN_TEST_FAULT"] = "1:3:hang" });

        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 50);
        // Its heartbeats went on: only the missing progress gave it away.
        Assert.Matches(@"adan launch: job \S+ failed .*: rank [01] \(\S+ pid \d+\) made no progress for [\d.]+ s after step [23] \(stall timeout 4 s\)", result.Stderr);
    }

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("HUP", 129)]
    public async Task AStopSignalToTheLauncherLeavesNoProcessOfTheJob(string signal, int exitCode)
    {
        using var launcher = AdanCli.Start(["launch", "-n", "2", "--grace-period", "2", "--", .. Train()], defaultSignals: true);
        var stderr = launcher.StandardError.ReadToEndAsync();
        await WaitForStepAsync(launcher, 5);
        var drain = launcher.StandardOutput.ReadToEndAsync();
        var job = ProcessTable.Descendants(launcher.Id);
        Assert.True(job.Count(pid => ProcessTable.Arguments(pid) is [var exe, "train", ..] && exe.EndsWith("/adan")) == 2,
            $"two ranks should run below the launcher (exited: {launcher.HasExited}); it has:\n"
            + string.Join('\n', job.Select(pid => $"{pid}: {string.Join(' ', ProcessTable.Arguments(pid))}")));
        Assert.Contains(job, pid => ProcessTable.Arguments(pid).FirstOrDefault()?.EndsWith("/Adan.Coordinator") == true);

        ProcessTable.Signal(launcher.Id, signal);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await launcher.WaitForExitAsync(limit.Token);

        Assert.Equal(exitCode, launcher.ExitCode);
        Assert.Contains($"stopped by SIG{signal}", await stderr);
        // A stop, not a preemption (SIGTERM's, PreemptionTests): nothing was saved on the way out.
        Assert.False(Directory.Exists(Path.Combine(_runDir, "checkpoints")));
        // mpiexec, its proxies, both ranks and the coordinator: every one of them is gone when the launcher is.
        Assert.Empty(job.Where(ProcessTable.IsRunning).Select(pid => $"{pid}: {string.Join(' ', ProcessTable.Arguments(pid))}"));
        await drain;
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task LaunchRunsTwoRanksOnAStandaloneCoordinatorWithATokenFile()
    {
        var tokenFile = Path.Combine(_runDir, "token");
        File.WriteAllText(tokenFile, "standalone-token-file-test\n");
        // The operator token: launch refuses a file that group or others may read.
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var coordinator = await StandaloneCoordinator.StartAsync(Path.Combine(_runDir, "coordinator"), "standalone-token-file-test", "127.0.0.1:0");

        var result = await Task.Run(() => AdanCli.Run(["launch", "-n", "2", "--coordinator", coordinator.Url, "--token-file", tokenFile, "--", .. Train(epochs: 1)],
            TimeSpan.FromSeconds(120)));

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.StartsWith("summary: ", result.StdoutLines[^1]);
    }

    [Fact]
    public async Task ACoordinatorKilledAndRestartedWithinTheHeartbeatTimeoutCostsAPauseNotTheJob()
    {
        const string token = "restart-test-token";
        var dataDir = Path.Combine(_runDir, "coordinator");
        var coordinator = await StandaloneCoordinator.StartAsync(dataDir, token, "127.0.0.1:0");
        try
        {
            using var launcher = AdanCli.Start(["launch", "-n", "2", "--coordinator", coordinator.Url, "--", .. Train(epochs: 12)],
                new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = token });
            var stderr = launcher.StandardError.ReadToEndAsync();
            await WaitForStepAsync(launcher, 5);
            var stdout = launcher.StandardOutput.ReadToEndAsync();

            var port = coordinator.Url[(coordinator.Url.LastIndexOf(':') + 1)..];
            coordinator.Kill();
            coordinator = await StandaloneCoordinator.StartAsync(dataDir, token, $"127.0.0.1:{port}");

            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await launcher.WaitForExitAsync(limit.Token);
            Assert.True(launcher.ExitCode == 0, $"exit code {launcher.ExitCode}\n{await stderr}");
            Assert.Contains("summary: ", await stdout);
        }
        finally
        {
            coordinator.Kill();
        }
    }

    [Fact]
    public async Task RanksWhoseCoordinatorIsKilledForGoodEndWithinTheHeartbeatTimeout()
    {
        const string token = "gone-test-token";
        using var coordinator = await StandaloneCoordinator.StartAsync(Path.Combine(_runDir, "coordinator"), token, "127.0.0.1:0", heartbeatTimeout: "4");
        using var launcher = AdanCli.Start(["launch", "-n", "2", "--coordinator", coordinator.Url, "--", .. Train()],
            new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = token });
        var stderr = launcher.StandardError.ReadToEndAsync();
        await WaitForStepAsync(launcher, 5);
        var stdout = launcher.StandardOutput.ReadToEndAsync();

        coordinator.Kill();
        var watch = Stopwatch.StartNew();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await launcher.WaitForExitAsync(limit.Token);

        Assert.Equal(1, launcher.ExitCode);
        // The heartbeat timeout (4 s), one heartbeat interval and the exit: well within 15 s.
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 15);
        var errors = await stderr;
        // Either the heartbeat loop declares the coordinator gone first, or a training call meets it dead first.
        Assert.Matches(
            @"rank [01]: the job failed: the coordinator at \S+ has not answered for [\d.]+ s \(heartbeat timeout 4 s\)|rank [01] on \S+: a call to the coordinator failed: \w+",
            errors);
        Assert.Contains("does not answer", errors);
        await stdout;
    }

    private static async Task WaitForStepAsync(Process launcher, int step)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        string? line;
        while ((line = await launcher.StandardOutput.ReadLineAsync(limit.Token)) is not null && !line.Contains($" step {step}/"))
        {
        }
        Assert.NotNull(line);
    }

    /// <summary>An <c>adan coordinator</c> of its own, as an operator runs one for many launches.</summary>
    private sealed class StandaloneCoordinator : IDisposable
    {
        private readonly Process _process;

        private StandaloneCoordinator(Process process, string url)
        {
            _process = process;
            Url = url;
        }

        public string Url { get; }

        public static async Task<StandaloneCoordinator> StartAsync(string dataDir, string token, string listen, string heartbeatTimeout = "30")
        {
            Directory.CreateDirectory(dataDir);
            var process = AdanCli.Start(["coordinator", "--listen", listen, "--data-dir", dataDir, "--heartbeat-timeout", heartbeatTimeout],
                new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = token });
            var listening = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            _ = process.StandardError.ReadToEndAsync();
            Assert.StartsWith("listening on http://127.0.0.1:", listening);
            return new StandaloneCoordinator(process, listening!["listening on ".Length..]);
        }

        /// <summary>SIGKILL: no shutdown, no goodbye to the ranks.</summary>
        public void Kill()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }
        }

        public void Dispose()
        {
            Kill();
            _process.Dispose();
        }
    }
}
