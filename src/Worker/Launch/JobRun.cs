using Adan.Sharded.Training.Processes;
using System.Diagnostics;
using System.Globalization;
using Adan.Coordinator.Client;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Adan.Worker.Commands;
using Adan.Worker.Processes;
using Adan.Sharded.Training;

namespace Adan.Worker.Launch;

/// <summary>
/// One attempt of a launch: <c>mpiexec.mpich</c> with the job's coordinator, token and id in the ranks' environment,
/// watched until it ends; signals are passed on (<see cref="LaunchSignals"/>: a preemption save, or a stop at once), a
/// failure the coordinator declares ends mpiexec, and the failure is charged to a rank and its host (see <see cref="JobFailure"/>).
/// </summary>
internal static class JobRun
{
    /// <summary>One run of the job: its own job id (and token), ranks, hostfile and command.</summary>
    public sealed record Attempt(string JobId, int Ranks, string? Hostfile, string[] Arguments, int Restarts)
    {
        /// <summary>Settings a program's ranks apply last (<c>key=value</c>, in <see cref="TrainingOptions.OverridesVariable"/>): a restart's <c>resume=latest</c>.</summary>
        public IReadOnlyList<string> Overrides { get; init; } = [];
    }

    /// <summary>How an attempt ended: the exit code <c>adan launch</c> would return, and the host the failure is charged to.</summary>
    public sealed record Outcome(int ExitCode, string? FailedHost);

    /// <summary>
    /// Runs the job and returns <see cref="ExitCodes.Success"/>, <see cref="ExitCodes.Preempted"/> when every rank saved
    /// and stopped after a signal, <see cref="ExitCodes.Usage"/> when the ranks refused their command line (as the command
    /// run alone would), the shell's code of a signal that stopped it at once, or <see cref="ExitCodes.Failure"/> for any
    /// other end.
    /// </summary>
    /// <param name="settings">The command line, with the job id chosen.</param>
    /// <param name="coordinatorUrl">Where the ranks reach the coordinator.</param>
    /// <param name="token">The job's own token (not the operator's).</param>
    /// <param name="coordinatorPid">The coordinator this launcher started, which the cleanup spares (it is stopped on its own).</param>
    /// <param name="attempt">This attempt's job id, ranks, hostfile, command and restarts before it.</param>
    /// <param name="signals">
    /// The launcher's signals, taken over before it made anything to clean up: one received before mpiexec starts
    /// starts nothing (there is nothing to save), one received later asks the ranks to save or ends them.
    /// </param>
    public static async Task<Outcome> RunAsync(LaunchSettings settings, Uri coordinatorUrl, string token, int? coordinatorPid, Attempt attempt,
        LaunchSignals signals)
    {
        var (jobId, ranks, hostfile, arguments, restarts) = attempt;
        if (signals.Received is { } early)
        {
            Console.Error.WriteLine($"adan launch: stopped by {LaunchSignals.Name(early)} before job {jobId} started");
            return new Outcome(LaunchSignals.ExitCode(early), null);
        }
        var tlsCa = settings.Security.TlsCa;
        var psi = new ProcessStartInfo("mpiexec.mpich") { UseShellExecute = false };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add(ranks.ToString());
        if (hostfile is not null)
        {
            psi.ArgumentList.Add("-f");
            psi.ArgumentList.Add(hostfile);
        }
        var (executable, prefix) = settings.RankExecutable;
        psi.ArgumentList.Add(executable);
        foreach (var a in prefix.Concat(arguments))
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment[CoordinatorEnvironment.AddressVariable] = coordinatorUrl.ToString();
        psi.Environment[CoordinatorEnvironment.TokenVariable] = token;
        psi.Environment[CoordinatorEnvironment.JobVariable] = jobId;
        psi.Environment[JobEnvironment.RestartsVariable] = restarts.ToString(CultureInfo.InvariantCulture);
        if (attempt.Overrides.Count > 0)
        {
            psi.Environment[TrainingOptions.OverridesVariable] = string.Join('\n', attempt.Overrides);
        }
        if (tlsCa is not null)
        {
            psi.Environment[CoordinatorEnvironment.TlsCaVariable] = tlsCa.FullName;
        }
        if (settings.Security.Insecure)
        {
            psi.Environment[CoordinatorEnvironment.InsecureVariable] = "1";
        }
        if (!Console.IsOutputRedirected)
        {
            psi.Environment[Adan.Sharded.Training.Progress.ProgressReporterFactory.TerminalVariable] = "1";
            psi.Environment[Adan.Sharded.Training.Progress.ProgressReporterFactory.ColumnsVariable] = Console.WindowWidth.ToString();
        }

        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"cannot start mpiexec.mpich ({e.Message}); install MPICH (apt-get install mpich).", e);
        }
        using (process)
        {
            await using var status = new CoordinatorClient(new CoordinatorClientOptions
            {
                Address = coordinatorUrl, Token = token, JobId = jobId, Rank = 0, WorldSize = ranks, MaxAttempts = 2, TrustedCaFile = tlsCa?.FullName,
            });
            using var stop = new CancellationTokenSource();
            var watcher = WatchForFailureAsync(status, process, coordinatorPid, stop.Token);
            // Slurm, Kubernetes and the sweep stop a job with SIGTERM, a terminal with SIGINT, a lost session with SIGHUP:
            // end the ranks here, so that the coordinator is stopped and its directory removed on the way out instead of
            // leaving orphans. SIGUSR1 and a first SIGTERM ask the ranks to save first.
            var preemptionAsked = false;
            var exited = process.WaitForExitAsync();
            var first = await Task.WhenAny(exited, signals.Preempt, signals.Stop);
            if (first == signals.Preempt)
            {
                var grace = settings.PreemptGrace ?? PreemptGrace.Measured(arguments, settings.RunsProgram);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"adan launch: {LaunchSignals.Name(signals.Preempt.Result)}: job {jobId}'s ranks save a checkpoint after their next step and stop (--preempt-grace {grace.TotalSeconds:0.#} s; a second SIGTERM or Ctrl-C stops at once)"));
                if (!await AskToSaveAsync(status, process))
                {
                    await stop.CancelAsync();
                    await ProcessTree.EndJobAsync(process, settings.Grace, coordinatorPid);
                    Console.Error.WriteLine($"adan launch: {LaunchSignals.Name(signals.Preempt.Result)} before any rank of job {jobId} joined: nothing trained to save; its ranks and coordinator were ended");
                    return new Outcome(LaunchSignals.ExitCode(signals.Preempt.Result), null);
                }
                preemptionAsked = true;
                first = await Task.WhenAny(exited, signals.Stop, Task.Delay(grace));
                if (first != exited && first != signals.Stop)
                {
                    await stop.CancelAsync();
                    await ProcessTree.EndJobAsync(process, settings.Grace, coordinatorPid);
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"adan launch: job {jobId} did not commit its checkpoint within --preempt-grace {grace.TotalSeconds:0.#} s; its ranks and coordinator were ended (the last committed checkpoint stays valid)"));
                    return new Outcome(ExitCodes.Terminated, null);
                }
            }
            if (first == signals.Stop)
            {
                await stop.CancelAsync();
                await ProcessTree.EndJobAsync(process, settings.Grace, coordinatorPid);
                Console.Error.WriteLine($"adan launch: stopped by {LaunchSignals.Name(signals.Stop.Result)}; job {jobId}'s ranks and coordinator were ended");
                return new Outcome(LaunchSignals.ExitCode(signals.Stop.Result), null);
            }
            await stop.CancelAsync();
            var failure = await watcher;
            // mpiexec is gone; a proxy or rank it left behind (re-parented here) is not.
            ProcessTree.KillDescendants(coordinatorPid);
            if (process.ExitCode == ExitCodes.Success && failure is null && !(preemptionAsked && PreemptedRunRecorded(arguments, settings.RunsProgram)))
            {
                return new Outcome(ExitCodes.Success, null);
            }
            if (process.ExitCode is ExitCodes.Preempted or ExitCodes.Success && failure is null)
            {
                // Every rank exits with this code only once the checkpoint of the step they stopped after is committed.
                var saved = await LatestCheckpointAsync(status);
                Console.Error.WriteLine($"adan launch: job {jobId} preempted: {saved}; resume with the same command and {(settings.RunsProgram ? $"{TrainingOptions.OverridesVariable}=resume=latest in the environment" : "--set resume=latest")}");
                return new Outcome(ExitCodes.Preempted, null);
            }
            // The coordinator's verdict (with the host of the rank it charged) when it failed the job, else the rank whose
            // connection closed first, else a rank seen dying here.
            var described = failure is { Verdict: true } ? failure : await JobFailure.DescribeAsync(status, failure);
            var host = described?.Host;
            Console.Error.WriteLine($"adan launch: job {jobId} failed (mpiexec exit code {process.ExitCode}){(described is null ? "" : $": {described.Reason}")}");
            return new Outcome(process.ExitCode == ExitCodes.Usage && failure is null ? ExitCodes.Usage : ExitCodes.Failure, host);
        }
    }

    /// <summary>
    /// Polls the job: notes the first rank whose process disappears (before the launcher's cleanup
    /// kills the rest) and, when the coordinator declares the job failed, gives the ranks a moment to
    /// abort and then ends mpiexec. Returns the failure, or null.
    /// </summary>
    private static async Task<JobFailure?> WatchForFailureAsync(CoordinatorClient status, Process process, int? coordinatorPid, CancellationToken cancellationToken)
    {
        var members = new List<MemberStatus>();
        var lastStatus = DateTime.MinValue;
        JobFailure? firstDeath = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
                var gone = members.Where(m => !ProcessTree.IsAlive(m.Pid)).ToList();
                if (firstDeath is null && gone.Count > 0)
                {
                    // The member list may be up to a second old: a rank that left the job and exited normally is no death.
                    var left = await LeftRanksAsync(status, cancellationToken);
                    var dead = gone.Where(m => left is not null && !left.Contains(m.Rank)).Select(m => $"rank {m.Rank} ({m.Host} pid {m.Pid})").ToList();
                    if (dead.Count > 0)
                    {
                        var host = gone.First(m => left is not null && !left.Contains(m.Rank)).Host;
                        firstDeath = new JobFailure($"{string.Join(", ", dead)} died", host);
                    }
                    members.RemoveAll(m => left?.Contains(m.Rank) == true);
                }
                if (DateTime.UtcNow - lastStatus < TimeSpan.FromSeconds(1))
                {
                    continue;
                }
                lastStatus = DateTime.UtcNow;
                JobStatusReply reply;
                try
                {
                    reply = await status.StatusAsync(cancellationToken);
                }
                catch (Grpc.Core.RpcException)
                {
                    continue; // The job has not joined yet.
                }
                members = reply.Members.Where(m => !m.Left && m.Host == Environment.MachineName).ToList();
                if (reply.State == JobState.Failed)
                {
                    Console.Error.WriteLine($"adan launch: {PrintableText.Of(reply.Reason)}");
                    await Task.WhenAny(process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(10)));
                    if (!process.HasExited)
                    {
                        ProcessTree.KillDescendants(coordinatorPid);
                    }
                    return new JobFailure(PrintableText.Of(reply.Reason), JobFailure.HostOfFailedRank(reply), Verdict: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        return firstDeath;
    }

    /// <summary>
    /// Asks the job's ranks to save and stop: SIGUSR1 to the ranks on this host (one is enough: the step's all-reduce
    /// tells the others), else to mpiexec, which passes it on to every rank on every host. Returns false, asking
    /// nothing, while no rank has joined the job: a rank takes SIGUSR1 over before it joins, so one that has not may
    /// still die of it, and before the first join nothing has been trained that a save could keep.
    /// </summary>
    /// <remarks>
    /// Not to mpiexec first: once Hydra (MPICH 4.0) has passed a signal on, it sometimes loses the ranks' exit codes and
    /// exits 0 (1 run in 3 of the demo's, measured), so <see cref="PreemptedRunRecorded"/> backs that road up.
    /// </remarks>
    private static async Task<bool> AskToSaveAsync(CoordinatorClient status, Process mpiexec)
    {
        JobStatusReply reply;
        try
        {
            reply = await status.StatusAsync();
        }
        catch (Grpc.Core.RpcException)
        {
            return false; // The job has not been joined yet.
        }
        var members = reply.Members.Where(m => !m.Left).ToList();
        if (members.Count == 0)
        {
            return false;
        }
        if (members.Where(m => m.Host == Environment.MachineName).Select(m => m.Pid).Count(Signal.AskToSave) == 0)
        {
            Signal.AskToSave(mpiexec.Id);
        }
        return true;
    }

    /// <summary>
    /// Whether the run's <c>summary.json</c> (rank 0's, in the run directory of the train command, when this host can
    /// read it) records a preemption: the record, not mpiexec's exit code, when mpiexec passed the signal on.
    /// </summary>
    private static bool PreemptedRunRecorded(string[] arguments, bool program)
    {
        if (LaunchedTrainConfig.TryRead(arguments, program) is not { } config)
        {
            return false;
        }
        try
        {
            using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(config.RunDir, Adan.Sharded.Training.Telemetry.RunSummaryWriter.FileName)));
            return summary.RootElement.TryGetProperty("preempted", out var preempted) && preempted.ValueKind == System.Text.Json.JsonValueKind.Object;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>The job's last committed checkpoint, as the launcher's last line names it.</summary>
    private static async Task<string> LatestCheckpointAsync(CoordinatorClient status)
    {
        try
        {
            return await status.LatestCheckpointAsync() is { } latest
                ? $"checkpoint of step {latest.Step} committed at {latest.Directory}"
                : "the coordinator lists no committed checkpoint of this job (see the run's summary.json)";
        }
        catch (Grpc.Core.RpcException e)
        {
            return $"the coordinator did not say which checkpoint was committed ({e.Status.Detail}; see the run's summary.json)";
        }
    }

    /// <summary>The ranks that have left the job by now, or null when the coordinator cannot say.</summary>
    private static async Task<HashSet<int>?> LeftRanksAsync(CoordinatorClient status, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await status.StatusAsync(cancellationToken);
            return reply.Members.Where(m => m.Left).Select(m => m.Rank).ToHashSet();
        }
        catch (Grpc.Core.RpcException)
        {
            return null;
        }
    }
}
