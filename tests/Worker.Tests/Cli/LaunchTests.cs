using System.Diagnostics;

namespace Adan.Worker.Tests.Cli;

/// <summary><c>adan launch</c> when a rank dies or the run asks for telemetry.</summary>
public class LaunchTests
{
    [Fact]
    public async Task WhenARankIsKilledTheJobEndsAndNamesTheRank()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-kill-").FullName;
        try
        {
            using var launcher = AdanCli.Start(["launch", "-n", "2", "--heartbeat-timeout", "5", "--", "train", "--set", "model=mlp",
                "--set", "epochs=50", "--set", "micro_batch=16", "--set", "log_every=1", "--set", "resume=none", "--set", $"run_dir={runDir}"]);
            var stderr = launcher.StandardError.ReadToEndAsync();
            string? line;
            while ((line = launcher.StandardOutput.ReadLine()) is not null && !line.StartsWith("epoch 1 step 20/"))
            {
            }
            Assert.NotNull(line);
            var victim = RankProcesses(launcher.Id).Last();
            victim.Kill();
            var drain = launcher.StandardOutput.ReadToEndAsync();
            var watch = Stopwatch.StartNew();
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await launcher.WaitForExitAsync(limit.Token);
            Assert.InRange(watch.Elapsed.TotalSeconds, 0, 15);
            Assert.NotEqual(0, launcher.ExitCode);
            // The coordinator heard a connection close first (or the launcher saw a process go). Usually the victim's; but
            // its peer, reading its memory through UCX at that moment, can crash within milliseconds, and a killed process
            // with a large address space closes its sockets only after it has been unmapped.
            var errors = await stderr;
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(errors,
                    @"adan launch: job \S+ failed .*: (rank [01] \(\S+ pid \d+\) (and rank [01] \(\S+ pid \d+\) were|was) the first to lose|rank [01] \(\S+ pid \d+\) died)"),
                $"the launcher should name the killed rank (pid {victim.Id}):\n{errors}");
            await drain;
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public async Task ACoordinatorNeverOutlivesItsLauncher()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-orphan-").FullName;
        var descendants = new List<int>();
        try
        {
            using var launcher = AdanCli.Start(["launch", "-n", "1", "--", "train", "--set", "model=mlp", "--set", "epochs=50",
                "--set", "micro_batch=16", "--set", "log_every=1", "--set", "resume=none", "--set", $"run_dir={runDir}"]);
            string? line;
            while ((line = launcher.StandardOutput.ReadLine()) is not null && !line.StartsWith("epoch 1 step 5/"))
            {
            }
            Assert.NotNull(line);
            descendants.AddRange(ProcessTable.Descendants(launcher.Id));
            var coordinator = descendants.Single(pid => ProcessTable.Arguments(pid).FirstOrDefault()?.EndsWith("/Adan.Coordinator") == true);

            // SIGKILL: the launcher gets no chance to stop anything; only the closed stdin pipe tells the coordinator.
            launcher.Kill();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (ProcessTable.IsRunning(coordinator))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the coordinator (pid {coordinator}) outlived its killed launcher by 20 s");
                await Task.Delay(100);
            }
        }
        finally
        {
            foreach (var pid in descendants)
            {
                try
                {
                    Process.GetProcessById(pid).Kill();
                }
                catch (ArgumentException)
                {
                }
                catch (InvalidOperationException)
                {
                }
            }
            Directory.Delete(runDir, recursive: true);
        }
    }

    /// <summary>
    /// A stop signal at any moment of start-up: before the launcher took signals over, while its coordinator starts (the
    /// window that once left <c>/tmp/adan-coordinator-*</c> behind), while mpiexec starts the ranks. Each time the
    /// launcher exits as stopped, no process of its tree survives and none of its directories is left in its TMPDIR.
    /// </summary>
    [Theory]
    [InlineData("at once")]
    [InlineData("coordinator")]
    [InlineData("mpiexec")]
    public async Task SigtermDuringStartUpLeavesNothingBehind(string moment)
    {
        var temp = Directory.CreateTempSubdirectory("adan-cli-sigterm-start-").FullName;
        var seen = new HashSet<int>();
        try
        {
            using var launcher = AdanCli.Start(["launch", "-n", "1", "--grace-period", "2", "--", "train", "--set", "model=mlp", "--set", "epochs=50",
                "--set", "resume=none", "--set", $"run_dir={Path.Combine(temp, "run")}"], new Dictionary<string, string> { ["TMPDIR"] = temp });
            var stderr = launcher.StandardError.ReadToEndAsync();
            var stdout = launcher.StandardOutput.ReadToEndAsync();
            Func<string[], bool>? reached = moment switch
            {
                "coordinator" => arguments => arguments.FirstOrDefault()?.EndsWith("/Adan.Coordinator", StringComparison.Ordinal) == true,
                "mpiexec" => arguments => arguments.FirstOrDefault()?.EndsWith("mpiexec.mpich", StringComparison.Ordinal) == true,
                _ => null,
            };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (reached is not null && !launcher.HasExited)
            {
                var descendants = ProcessTable.Descendants(launcher.Id);
                seen.UnionWith(descendants);
                if (descendants.Any(pid => reached(ProcessTable.Arguments(pid))))
                {
                    break;
                }
                Assert.True(DateTime.UtcNow < deadline, $"the launcher never reached '{moment}'");
                await Task.Delay(5);
            }
            Assert.False(launcher.HasExited, $"the launcher ended before '{moment}'");

            ProcessTable.Signal(launcher.Id, "TERM");
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await launcher.WaitForExitAsync(limit.Token);

            Assert.True(launcher.ExitCode == 143, $"exit code {launcher.ExitCode}: {await stderr}");
            seen.UnionWith(ProcessTable.Descendants(launcher.Id));
            var settled = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (seen.Any(ProcessTable.IsRunning) && DateTime.UtcNow < settled)
            {
                await Task.Delay(50);
            }
            Assert.DoesNotContain(seen, ProcessTable.IsRunning);
            // .NET's diagnostic sockets may stay behind a killed rank; the launcher's own directories may not.
            Assert.Empty(Directory.EnumerateFileSystemEntries(temp, "adan-*"));
            await stdout;
        }
        finally
        {
            foreach (var pid in seen.Where(ProcessTable.IsRunning))
            {
                Process.GetProcessById(pid).Kill();
            }
            Directory.Delete(temp, recursive: true);
        }
    }

    [Fact]
    public async Task SigtermSavesEndsEveryRankAndTheCoordinatorAndCleansUp()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-sigterm-").FullName;
        var descendants = new List<int>();
        try
        {
            using var launcher = AdanCli.Start(["launch", "-n", "2", "--", "train", "--set", "model=mlp", "--set", "epochs=50",
                "--set", "micro_batch=16", "--set", "log_every=1", "--set", "resume=none", "--set", $"run_dir={runDir}"]);
            var stderr = launcher.StandardError.ReadToEndAsync();
            string? line;
            while ((line = launcher.StandardOutput.ReadLine()) is not null && !line.StartsWith("epoch 1 step 5/"))
            {
            }
            Assert.NotNull(line);
            var drain = launcher.StandardOutput.ReadToEndAsync();
            descendants.AddRange(ProcessTable.Descendants(launcher.Id));
            var coordinator = descendants.Single(pid => ProcessTable.Arguments(pid).FirstOrDefault()?.EndsWith("/Adan.Coordinator") == true);
            var coordinatorArguments = ProcessTable.Arguments(coordinator);
            var dataDir = coordinatorArguments[Array.IndexOf(coordinatorArguments, "--data-dir") + 1];
            Assert.Equal(2, descendants.Count(pid => ProcessTable.Arguments(pid) is [var exe, "train", ..] && exe.EndsWith("/adan")));

            // What Slurm's scancel and Kubernetes send first.
            using (var kill = Process.Start("kill", ["-TERM", launcher.Id.ToString()]))
            {
                await kill.WaitForExitAsync();
            }
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await launcher.WaitForExitAsync(limit.Token);

            // A preemption: every rank saved the step it stopped after, and the launcher exits 75 (ExitCodes.Preempted).
            var errors = await stderr;
            Assert.True(launcher.ExitCode == 75, $"exit code {launcher.ExitCode}\n{errors}");
            Assert.Contains("preempted: checkpoint of step ", errors);
            // The launcher waited for mpiexec; its proxies may take a moment more to reap the ranks.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (descendants.Any(ProcessTable.IsRunning) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
            Assert.DoesNotContain(descendants, ProcessTable.IsRunning);
            Assert.False(Directory.Exists(dataDir), $"the coordinator's directory {dataDir} outlived the launcher");
            await drain;
        }
        finally
        {
            foreach (var pid in descendants.Where(ProcessTable.IsRunning))
            {
                Process.GetProcessById(pid).Kill();
            }
            Directory.Delete(runDir, recursive: true);
        }
    }

    [Fact]
    public async Task LaunchJoinsAStandaloneCoordinator()
    {
        var dataDir = Directory.CreateTempSubdirectory("adan-cli-standalone-").FullName;
        var token = new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "standalone-test-token" };
        using var coordinator = AdanCli.Start(["coordinator", "--listen", "127.0.0.1:0", "--data-dir", dataDir], token);
        try
        {
            var listening = await coordinator.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.StartsWith("listening on http://127.0.0.1:", listening);
            var url = listening!["listening on ".Length..];

            var result = AdanCli.Run(["launch", "-n", "1", "--coordinator", url, "--", "train", "--set", "model=mlp", "--set", "mlp_hidden=32",
                "--set", "train_subset=256", "--set", "test_subset=100", "--set", "epochs=1", "--set", "resume=none",
                "--set", $"run_dir={Path.Combine(dataDir, "run")}"], environment: token);

            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.StartsWith("summary: ", result.StdoutLines[^1]);
        }
        finally
        {
            coordinator.Kill(entireProcessTree: true);
            await coordinator.WaitForExitAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public void TelemetryConsoleExportsTheTrainingMetrics()
    {
        var runDir = Directory.CreateTempSubdirectory("adan-cli-otel-").FullName;
        try
        {
            var result = AdanCli.Run(["train", "--telemetry", "console", "--set", "model=mlp", "--set", "train_subset=256", "--set", "test_subset=100",
                "--set", "epochs=1", "--set", "micro_batch=32", "--set", "resume=none", "--set", $"run_dir={runDir}"]);
            Assert.True(result.ExitCode == 0, result.Describe());
            foreach (var instrument in new[] { "adan.train.step.duration", "adan.train.samples", "adan.train.loss", "adan.train.lr", "adan.optimizer.state.bytes" })
            {
                Assert.Contains(instrument, result.Stdout);
            }
            Assert.Contains("train.step", result.Stdout);
            Assert.StartsWith("summary: ", result.StdoutLines[^1]);
        }
        finally
        {
            Directory.Delete(runDir, recursive: true);
        }
    }

    /// <summary>The <c>adan train</c> processes started under the launcher (its mpiexec's children), by pid.</summary>
    private static List<Process> RankProcesses(int launcherPid)
    {
        var ranks = new List<Process>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (argv.Length > 1 && argv[0].EndsWith("/adan") && argv[1] == "train")
                {
                    if (ProcessTable.IsDescendant(pid, launcherPid))
                    {
                        ranks.Add(Process.GetProcessById(pid));
                    }
                }
            }
            catch (IOException)
            {
            }
            catch (ArgumentException)
            {
            }
        }
        Assert.Equal(2, ranks.Count);
        return ranks.OrderBy(p => p.Id).ToList();
    }
}
