using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Adan.Coordinator.Client;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Adan.Worker.Training;

namespace Adan.Worker.Commands;

/// <summary>
/// <c>adan launch -n W [--hostfile F] [--coordinator URL] [--token-file F] -- train ...</c>: starts a coordinator on
/// loopback with a fresh random token (unless one is given in a private file), creates the job with the operator token, runs <c>mpiexec.mpich -n W adan ...</c>
/// with the job's coordinator address, token and id in the environment, streams the output, stops
/// the coordinator and exits as the job did (see <see cref="ExitCodes"/>). When a rank dies or hangs, the job ends and the
/// launcher names the rank. With <c>--max-restarts K</c> a failed job is started again from its last committed
/// checkpoint, up to K times (see <see cref="RestartPlan"/>).
/// </summary>
internal static class LaunchCommand
{
    public static Command Create()
    {
        var ranks = new Option<int>("-n", "--ranks") { Description = "Number of ranks (processes)", Required = true, CustomParser = ParseRanks };
        var hostfile = new Option<FileInfo?>("--hostfile") { Description = "MPICH hostfile (one host[:slots] per line)" };
        var coordinator = new Option<Uri?>("--coordinator")
        {
            Description = "Use a running coordinator at this URL (its operator token from --token-file or ADAN_JOB_TOKEN) instead of starting one",
            // System.CommandLine has no parser for Uri; without this every URL was refused with a stack trace.
            CustomParser = ParseCoordinatorUrl,
        };
        var listen = new Option<string>("--listen") { Description = "Where the launched coordinator listens (HOST:PORT); use a reachable address with --hostfile", DefaultValueFactory = _ => "127.0.0.1:0" };
        var timeout = new Option<double>("--heartbeat-timeout")
        {
            Description = "Seconds a rank may be silent before the job fails",
            DefaultValueFactory = _ => HeartbeatTimeout.DefaultSeconds,
            CustomParser = ParseHeartbeatTimeout,
        };
        var stall = new Option<double?>("--stall-timeout")
        {
            Description = $"Seconds a rank may make no progress before the job fails (default: {JobTimeouts.AdaptiveStallFactor}x the longest interval between progress marks, at least {JobTimeouts.MinimumAdaptiveStallSeconds} s)",
        };
        var join = new Option<double?>("--join-timeout") { Description = $"Seconds the job may wait for its last rank to join (default {JobTimeouts.DefaultJoinSeconds})" };
        var grace = new Option<double>("--grace-period")
        {
            Description = "Seconds the ranks get to end after SIGINT/SIGTERM/SIGHUP is passed on, before every process of the job is killed",
            DefaultValueFactory = _ => DefaultGraceSeconds,
        };
        var tokenFile = new Option<FileInfo?>("--token-file") { Description = "The operator token from this file, readable only by you (default: a fresh random one; with --coordinator: ADAN_JOB_TOKEN)" };
        var job = new Option<string?>("--job-id") { Description = "Job id (default: a fresh random one)" };
        var maxRestarts = new Option<int>("--max-restarts")
        {
            Description = "Times a failed job is restarted from its last committed checkpoint (resume=latest), each a new job JOB-restartN; never after a usage error or a signal",
            DefaultValueFactory = _ => 0,
        };
        var minRanks = new Option<int?>("--min-ranks")
        {
            Description = "With --hostfile: restart without the host that failed, on the slots left, if at least this many; accumulation is raised to keep the global batch",
        };
        var command = new Argument<string[]>("command") { Description = "The adan subcommand and its arguments, after --", Arity = ArgumentArity.OneOrMore };
        var launch = new Command("launch", "Run an adan job on W ranks with mpiexec.mpich and a coordinator.")
        {
            ranks, hostfile, coordinator, listen, timeout, stall, join, grace, tokenFile, job, maxRestarts, minRanks, command,
        };
        var security = new LaunchSecurity();
        security.AddTo(launch);
        launch.SetAction(r => RunAsync(new LaunchSettings(r.GetValue(ranks), r.GetValue(hostfile), r.GetValue(coordinator), r.GetValue(listen)!,
            r.GetValue(timeout), r.GetValue(stall), r.GetValue(join), r.GetValue(grace), r.GetValue(tokenFile), r.GetValue(job), r.GetValue(command)!,
            security.Bind(r), r.GetValue(maxRestarts), r.GetValue(minRanks))).GetAwaiter().GetResult());
        return launch;
    }

    /// <summary>The rank count, or one error naming the value and the range (not the parser's, which names a CLR type).</summary>
    private static int ParseRanks(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ranks) && ranks >= 1 && ranks <= CoordinatorLimits.MaxWorldSize)
        {
            return ranks;
        }
        result.AddError($"-n {text}: the number of ranks must be an integer in [1, {CoordinatorLimits.MaxWorldSize}]");
        return 0;
    }

    /// <summary>The timeout, or one error naming the value and the range: NaN, infinities and 1e300 included.</summary>
    private static double ParseHeartbeatTimeout(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && HeartbeatTimeout.IsValid(seconds))
        {
            return seconds;
        }
        result.AddError($"--heartbeat-timeout {text}: {HeartbeatTimeout.Rule}");
        return 0;
    }

    /// <summary>Seconds the ranks get to end after a stop signal is passed on, unless told otherwise.</summary>
    private const double DefaultGraceSeconds = 10;

    /// <summary>The most restarts accepted.</summary>
    private const int MaxRestartsLimit = 1000;

    /// <summary>The longest grace period accepted: an hour.</summary>
    private const double MaxGraceSeconds = 3600;

    /// <summary>The launcher's parsed command line.</summary>
    private sealed record LaunchSettings(int Ranks, FileInfo? Hostfile, Uri? CoordinatorUrl, string Listen, double HeartbeatTimeout,
        double? StallTimeout, double? JoinTimeout, double GraceSeconds, FileInfo? TokenFile, string? JobId, string[] Arguments,
        LaunchSecurity.Settings Security, int MaxRestarts, int? MinRanks)
    {
        public TimeSpan Grace => TimeSpan.FromSeconds(GraceSeconds);
    }

    private static Uri? ParseCoordinatorUrl(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https")
        {
            return url;
        }
        result.AddError($"--coordinator: '{text}' is not an http:// or https:// URL (e.g. http://HOST:PORT, as the coordinator prints it)");
        return null;
    }

    private static async Task<int> RunAsync(LaunchSettings settings)
    {
        var (ranks, hostfile, coordinatorUrl, listen, heartbeatTimeout, stallTimeout, joinTimeout, _, tokenFile, jobId, arguments, security, maxRestarts, minRanks) = settings;
        if (ranks < 1 || ranks > CoordinatorLimits.MaxWorldSize)
        {
            throw new UsageException($"-n {ranks}: the number of ranks must be in [1, {CoordinatorLimits.MaxWorldSize}]");
        }
        if (!HeartbeatTimeout.IsValid(heartbeatTimeout))
        {
            throw new UsageException($"--heartbeat-timeout {heartbeatTimeout.ToString(CultureInfo.InvariantCulture)}: {HeartbeatTimeout.Rule}");
        }
        foreach (var (flag, value) in new[] { ("--stall-timeout", stallTimeout), ("--join-timeout", joinTimeout) })
        {
            if (value is { } seconds && !JobTimeouts.IsValid(seconds))
            {
                throw new UsageException($"{flag} {seconds.ToString(CultureInfo.InvariantCulture)}: {JobTimeouts.Rule}");
            }
        }
        if (!double.IsFinite(settings.GraceSeconds) || settings.GraceSeconds < 0 || settings.GraceSeconds > MaxGraceSeconds)
        {
            throw new UsageException($"--grace-period {settings.GraceSeconds.ToString(CultureInfo.InvariantCulture)}: expected a number of seconds >= 0, at most {MaxGraceSeconds}");
        }
        if (hostfile is { Exists: false })
        {
            throw new UsageException($"--hostfile {hostfile.FullName}: no such file");
        }
        if (maxRestarts < 0 || maxRestarts > MaxRestartsLimit)
        {
            throw new UsageException($"--max-restarts {maxRestarts}: expected an integer in [0, {MaxRestartsLimit}]");
        }
        if (minRanks is { } min)
        {
            if (hostfile is null)
            {
                throw new UsageException("--min-ranks needs --hostfile: it drops the host that failed from the hostfile's hosts");
            }
            if (min < 1 || min > ranks)
            {
                throw new UsageException($"--min-ranks {min}: expected an integer in [1, -n {ranks}]");
            }
            if (LaunchedTrainConfig.TryRead(arguments) is null)
            {
                throw new UsageException("--min-ranks needs a train command with a valid config: the restart keeps its global batch (ranks × micro_batch × accumulation)");
            }
        }
        jobId ??= $"job-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        var givenToken = tokenFile is not null ? TokenFile.Read(tokenFile) : null;
        // Ranks and proxies whose parent dies first stay in this process's tree, so that the cleanup finds them.
        Signal.AdoptOrphans();

        if (coordinatorUrl is not null)
        {
            if (stallTimeout is not null || joinTimeout is not null)
            {
                throw new UsageException("--stall-timeout and --join-timeout configure the coordinator launch starts; with --coordinator give them to that coordinator");
            }
            givenToken ??= Environment.GetEnvironmentVariable(CoordinatorEnvironment.TokenVariable);
            if (string.IsNullOrWhiteSpace(givenToken))
            {
                throw new UsageException(
                    $"--coordinator needs the coordinator's operator token: give --token-file FILE or set {CoordinatorEnvironment.TokenVariable}");
            }
            security.CheckStanding(coordinatorUrl);
            security.WarnIfPlaintextOffLoopback(coordinatorUrl);
            var operatorToken = givenToken.Trim();
            return await RunAttemptsAsync(settings with { JobId = jobId }, coordinatorUrl,
                (id, w, restarts) => security.CreateJobAsync(coordinatorUrl, operatorToken, id, w, restarts), coordinatorPid: null);
        }

        var dataDirectory = Directory.CreateTempSubdirectory("adan-coordinator-");
        try
        {
            var token = givenToken ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            CoordinatorProcess coordinator;
            try
            {
                List<string> flags =
                [
                    "--listen", listen,
                    "--data-dir", dataDirectory.FullName,
                    "--heartbeat-timeout", heartbeatTimeout.ToString("R", CultureInfo.InvariantCulture),
                    // The trainer's keep_last governs the checkpoint root (it also counts earlier runs' checkpoints,
                    // which this per-launch coordinator never saw); this one only indexes.
                    "--keep-last", "0",
                    "--stop-on-stdin-eof",
                    .. security.CoordinatorArguments(arguments),
                ];
                if (stallTimeout is { } stall)
                {
                    flags.AddRange(["--stall-timeout", stall.ToString("R", CultureInfo.InvariantCulture)]);
                }
                if (joinTimeout is { } join)
                {
                    flags.AddRange(["--join-timeout", join.ToString("R", CultureInfo.InvariantCulture)]);
                }
                coordinator = await CoordinatorProcess.StartAsync(flags, token, TimeSpan.FromSeconds(60));
            }
            catch (CoordinatorStartException e)
            {
                // The coordinator refusing a flag we passed on (e.g. --listen) is the user's usage error.
                var message = $"cannot start the coordinator on {listen}: {e.Message}";
                throw e.ExitCode == ExitCodes.Usage ? new UsageException(message) : new IOException(message, e);
            }
            await using (coordinator)
            {
                var address = security.AddressOfLaunched(coordinator.Address);
                return await RunAttemptsAsync(settings with { JobId = jobId }, address,
                    (id, w, restarts) => security.CreateJobAsync(address, token, id, w, restarts), coordinator.Pid);
            }
        }
        finally
        {
            dataDirectory.Delete(recursive: true);
        }
    }

    /// <summary>One run of the job: its own job id (and token), ranks, hostfile and command.</summary>
    private sealed record Attempt(string JobId, int Ranks, string? Hostfile, string[] Arguments, int Restarts);

    /// <summary>How an attempt ended: the exit code <c>adan launch</c> would return, and the host the failure is charged to.</summary>
    private sealed record AttemptOutcome(int ExitCode, string? FailedHost);

    /// <summary>What the launcher prints for a failed job, and the host it names (null when none can be named).</summary>
    /// <param name="Reason">Why it failed.</param>
    /// <param name="Host">The host the failure is charged to, or null.</param>
    /// <param name="Verdict">True when the coordinator failed the job (its reason); false for what the launcher saw.</param>
    internal sealed record Failure(string Reason, string? Host, bool Verdict = false);

    /// <summary>
    /// Runs the job and, while it fails (exit 1, never a usage error or a signal) and restarts are left, runs it again
    /// from its last committed checkpoint: a new job <c>JOB-restartN</c> with <c>resume=latest</c>, on the shape
    /// <see cref="RestartPlan"/> gives.
    /// </summary>
    /// <param name="settings">The command line, with the job id chosen.</param>
    /// <param name="coordinatorUrl">Where the ranks reach the coordinator.</param>
    /// <param name="createJob">
    /// Creates an attempt's job (id, ranks, restarts before it) with the operator token and returns the job's own token,
    /// which acts on that job only: the ranks never get the operator token.
    /// </param>
    /// <param name="coordinatorPid">The coordinator this launcher started, if any.</param>
    private static async Task<int> RunAttemptsAsync(LaunchSettings settings, Uri coordinatorUrl, Func<string, int, int, Task<string>> createJob, int? coordinatorPid)
    {
        var jobId = settings.JobId!;
        var config = settings.MinRanks is null ? null : LaunchedTrainConfig.TryRead(settings.Arguments);
        var globalBatch = config is null ? 0 : (long)settings.Ranks * config.MicroBatch * config.Accumulation;
        var plan = new RestartPlan(settings.Ranks, settings.MinRanks is not null && settings.Hostfile is { } f ? Hostfile.Read(f.FullName) : null, null);
        string? scratch = null;
        try
        {
            for (var restarts = 0; ; restarts++)
            {
                var id = restarts == 0 ? jobId : $"{jobId}-restart{restarts}";
                var hostfile = settings.Hostfile?.FullName;
                if (restarts > 0 && plan.Hosts is not null)
                {
                    scratch ??= Directory.CreateTempSubdirectory("adan-launch-").FullName;
                    hostfile = Path.Combine(scratch, $"hostfile-restart{restarts}");
                    plan.Hosts.Write(hostfile);
                }
                string[] arguments = restarts == 0
                    ? settings.Arguments
                    : [.. settings.Arguments, "--set", "resume=latest", .. plan.Accumulation is { } a ? new[] { "--set", $"accumulation={a}" } : []];
                var token = await createJob(id, plan.Ranks, restarts);
                var outcome = await RunJobAsync(settings, coordinatorUrl, token, coordinatorPid, new Attempt(id, plan.Ranks, hostfile, arguments, restarts));
                if (outcome.ExitCode != ExitCodes.Failure || restarts >= settings.MaxRestarts)
                {
                    return outcome.ExitCode;
                }
                var (next, refusal) = plan.Next(outcome.FailedHost, settings.MinRanks, globalBatch, config?.MicroBatch ?? 0);
                if (next is null)
                {
                    Console.Error.WriteLine($"adan launch: job {jobId} is not restarted: {refusal}");
                    return ExitCodes.Failure;
                }
                var shape = next.Accumulation is { } accumulation && next.Ranks != plan.Ranks
                    ? string.Create(CultureInfo.InvariantCulture, $" on {next.Ranks} rank(s) without {outcome.FailedHost}, accumulation {accumulation} (global batch {globalBatch})")
                    : $" on {next.Ranks} rank(s)";
                Console.Error.WriteLine($"adan launch: restart {restarts + 1} of {settings.MaxRestarts}: job {jobId}-restart{restarts + 1} resumes from the last committed checkpoint{shape}");
                plan = next;
            }
        }
        finally
        {
            if (scratch is not null)
            {
                Directory.Delete(scratch, recursive: true);
            }
        }
    }

    /// <summary>The host of the rank the coordinator charged the failure to, or null (not failed, no such rank, unreachable).</summary>
    private static async Task<string?> FailedHostAsync(CoordinatorClient status)
    {
        try
        {
            return HostOfFailedRank(await status.StatusAsync());
        }
        catch (Grpc.Core.RpcException)
        {
            return null;
        }
    }

    private static string? HostOfFailedRank(JobStatusReply reply) =>
        reply.State == JobState.Failed ? reply.Members.FirstOrDefault(m => m.Rank == reply.FailedRank)?.Host : null;

    /// <summary>
    /// Runs the job and returns <see cref="ExitCodes.Success"/>, <see cref="ExitCodes.Usage"/> when the ranks refused
    /// their command line (as the command run alone would), or <see cref="ExitCodes.Failure"/> for any other end.
    /// </summary>
    /// <param name="settings">The command line, with the job id chosen.</param>
    /// <param name="coordinatorUrl">Where the ranks reach the coordinator.</param>
    /// <param name="token">The job's own token (not the operator's).</param>
    /// <param name="coordinatorPid">The coordinator this launcher started, which the cleanup spares (it is stopped on its own).</param>
    /// <param name="attempt">This attempt's job id, ranks, hostfile, command and restarts before it.</param>
    private static async Task<AttemptOutcome> RunJobAsync(LaunchSettings settings, Uri coordinatorUrl, string token, int? coordinatorPid, Attempt attempt)
    {
        var (jobId, ranks, hostfile, arguments, restarts) = attempt;
        var tlsCa = settings.Security.TlsCa;
        var psi = new ProcessStartInfo("mpiexec.mpich") { UseShellExecute = false };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add(ranks.ToString());
        if (hostfile is not null)
        {
            psi.ArgumentList.Add("-f");
            psi.ArgumentList.Add(hostfile);
        }
        psi.ArgumentList.Add(Environment.ProcessPath ?? "adan");
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment[CoordinatorEnvironment.AddressVariable] = coordinatorUrl.ToString();
        psi.Environment[CoordinatorEnvironment.TokenVariable] = token;
        psi.Environment[CoordinatorEnvironment.JobVariable] = jobId;
        psi.Environment[JobEnvironment.RestartsVariable] = restarts.ToString(CultureInfo.InvariantCulture);
        if (tlsCa is not null)
        {
            psi.Environment[CoordinatorEnvironment.TlsCaVariable] = tlsCa.FullName;
        }
        if (!Console.IsOutputRedirected)
        {
            psi.Environment[Progress.ProgressReporterFactory.TerminalVariable] = "1";
            psi.Environment[Progress.ProgressReporterFactory.ColumnsVariable] = Console.WindowWidth.ToString();
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
            // leaving orphans.
            using var signals = new StopSignals();
            try
            {
                await process.WaitForExitAsync(signals.Token);
            }
            catch (OperationCanceledException)
            {
                await stop.CancelAsync();
                await JobProcessTree.EndAsync(process, signals.Received!.Value, settings.Grace, coordinatorPid);
                Console.Error.WriteLine($"adan launch: stopped by {signals.Received}; job {jobId}'s ranks and coordinator were ended");
                return new AttemptOutcome(signals.ExitCode, null);
            }
            await stop.CancelAsync();
            var failure = await watcher;
            // mpiexec is gone; a proxy or rank it left behind (re-parented here) is not.
            JobProcessTree.KillAll(coordinatorPid);
            if (process.ExitCode == ExitCodes.Success && failure is null)
            {
                return new AttemptOutcome(ExitCodes.Success, null);
            }
            var described = failure is { Verdict: true } ? failure : await DescribeDeadRanksAsync(status, failure);
            // The coordinator's record names the rank the failure is charged to; a rank seen dying here is the fallback.
            var host = await FailedHostAsync(status) ?? described?.Host;
            Console.Error.WriteLine($"adan launch: job {jobId} failed (mpiexec exit code {process.ExitCode}){(described is null ? "" : $": {described.Reason}")}");
            return new AttemptOutcome(process.ExitCode == ExitCodes.Usage && failure is null ? ExitCodes.Usage : ExitCodes.Failure, host);
        }
    }

    /// <summary>
    /// Polls the job: notes the first rank whose process disappears (before the launcher's cleanup
    /// kills the rest) and, when the coordinator declares the job failed, gives the ranks a moment to
    /// abort and then ends mpiexec. Returns the failure, or null.
    /// </summary>
    private static async Task<Failure?> WatchForFailureAsync(CoordinatorClient status, Process process, int? coordinatorPid, CancellationToken cancellationToken)
    {
        var members = new List<MemberStatus>();
        var lastStatus = DateTime.MinValue;
        Failure? firstDeath = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
                var gone = members.Where(m => !IsAlive(m.Pid)).ToList();
                if (firstDeath is null && gone.Count > 0)
                {
                    // The member list may be up to a second old: a rank that left the job and exited normally is no death.
                    var left = await LeftRanksAsync(status, cancellationToken);
                    var dead = gone.Where(m => left is not null && !left.Contains(m.Rank)).Select(m => $"rank {m.Rank} ({m.Host} pid {m.Pid})").ToList();
                    if (dead.Count > 0)
                    {
                        var host = gone.First(m => left is not null && !left.Contains(m.Rank)).Host;
                        firstDeath = new Failure($"{string.Join(", ", dead)} died", host);
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
                    Console.Error.WriteLine($"adan launch: {reply.Reason}");
                    await Task.WhenAny(process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(10)));
                    if (!process.HasExited)
                    {
                        JobProcessTree.KillAll(coordinatorPid);
                    }
                    return new Failure(reply.Reason, HostOfFailedRank(reply), Verdict: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        return firstDeath;
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

    /// <summary>How long, after mpiexec failed, the launcher waits for the coordinator to register closed connections.</summary>
    private static readonly TimeSpan s_disconnectSettleTime = TimeSpan.FromSeconds(2);

    /// <summary>
    /// After mpiexec failed before the coordinator failed the job: the rank whose connection to the coordinator closed
    /// first (its process died first, wherever it ran; MPI then ended the others), else the first death seen on this
    /// host while the job ran, else the ranks of this host whose processes are gone.
    /// </summary>
    /// <param name="status">A client of the job.</param>
    /// <param name="seenHere">The first death the launcher saw while the job ran, if any.</param>
    private static async Task<Failure?> DescribeDeadRanksAsync(CoordinatorClient status, Failure? seenHere)
    {
        try
        {
            var reply = await status.StatusAsync();
            // The ranks' connections closed as they died, but a busy coordinator may not have handled the closes yet.
            for (var wait = Stopwatch.StartNew(); reply.State != JobState.Failed && FirstDisconnected(reply) is null && reply.Members.Any(m => !m.Left)
                && wait.Elapsed < s_disconnectSettleTime;)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
                reply = await status.StatusAsync();
            }
            if (reply.State == JobState.Failed)
            {
                return new Failure(reply.Reason, HostOfFailedRank(reply), Verdict: true);
            }
            if ((FirstDisconnected(reply) ?? seenHere) is { } first)
            {
                return first;
            }
            // Pids name processes of the host they ran on: only this host's can be looked up here.
            var dead = reply.Members.Where(m => !m.Left && m.Host == Environment.MachineName && !IsAlive(m.Pid)).ToList();
            return dead.Count > 0
                // Which of them died first is not known here.
                ? new Failure($"{string.Join(", ", dead.Select(m => $"rank {m.Rank} ({m.Host} pid {m.Pid})"))} ended without leaving the job",
                    dead[0].Host)
                : null;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode is Grpc.Core.StatusCode.Unavailable or Grpc.Core.StatusCode.DeadlineExceeded)
        {
            // The ranks end on their own once their coordinator has been unreachable for the heartbeat timeout.
            return seenHere ?? new Failure($"the coordinator at {status.Address} does not answer", null);
        }
        catch (Grpc.Core.RpcException)
        {
            return seenHere;
        }
    }

    /// <summary>
    /// The member whose connection to the coordinator closed first, charged with the failure, and the others that
    /// closed theirs after it (the ranks MPI ended); null when no member's connection closed.
    /// </summary>
    internal static Failure? FirstDisconnected(JobStatusReply reply)
    {
        var lost = reply.Members.Where(m => !m.Left && m.DisconnectedMs >= 0).OrderByDescending(m => m.DisconnectedMs).ThenBy(m => m.Rank).ToList();
        if (lost.Count == 0)
        {
            return null;
        }
        var first = lost[0];
        var after = lost.Count == 1
            ? ""
            : string.Create(CultureInfo.InvariantCulture,
                $"; then {string.Join(", ", lost.Skip(1).Select(m => $"rank {m.Rank} ({m.Host})"))}, {(first.DisconnectedMs - lost[1].DisconnectedMs) / 1000.0:F2} s later or more");
        return new Failure($"rank {first.Rank} ({first.Host} pid {first.Pid}) was the first to lose its connection to the coordinator: its process ended or its host went down{after}",
            first.Host);
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
