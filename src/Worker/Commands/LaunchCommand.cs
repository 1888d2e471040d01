using Adan.Sharded.Training.Processes;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Adan.Coordinator.Client;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Adan.Worker.Launch;
using Adan.Worker.Processes;
using Adan.Sharded.Training;

namespace Adan.Worker.Commands;

/// <summary>
/// <c>adan launch -n W [--hostfile F] [--coordinator URL] [--token-file F] -- train ...</c>: starts a coordinator on
/// loopback with a fresh random token (unless one is given in a private file), creates the job with the operator token, runs <c>mpiexec.mpich -n W adan ...</c>
/// with the job's coordinator address, token and id in the environment, streams the output, stops
/// the coordinator and exits as the job did (see <see cref="ExitCodes"/>). When a rank dies or hangs, the job ends and the
/// launcher names the rank. With <c>--max-restarts K</c> a failed job is started again from its last committed
/// checkpoint, up to K times (see <see cref="RestartPlan"/>). SIGUSR1 or SIGTERM asks every rank to save after the
/// same step and stop (exit <see cref="ExitCodes.Preempted"/>), within <c>--preempt-grace</c>; SIGINT, SIGHUP or a
/// second SIGTERM stops the job at once (see <see cref="LaunchSignals"/>).
/// </summary>
internal static class LaunchCommand
{
    public static Command Create()
    {
        var ranks = new Option<int>("-n", "--ranks") { Description = "Number of ranks (processes)", Required = true, CustomParser = ParseRanks };
        var hostfile = new Option<FileInfo?>("--hostfile") { Description = "MPICH hostfile (one host[:slots] per line)" };
        var coordinator = new Option<Uri?>("--coordinator")
        {
            Description = "Use a running coordinator at this URL (a submitter credential its operator issued, or its operator token, from --token-file or ADAN_JOB_TOKEN) instead of starting one",
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
            Description = "Seconds the ranks get to end after a stop (SIGINT, SIGHUP, a second SIGTERM) is passed on, before every process of the job is killed",
            DefaultValueFactory = _ => DefaultGraceSeconds,
        };
        var preemptGrace = new Option<double?>("--preempt-grace")
        {
            Description = $"Seconds the ranks get to save and commit a checkpoint after SIGUSR1 or SIGTERM, before the job is stopped at once (default: {PreemptGrace.Factor}x the longest save the run's metrics.jsonl records + {PreemptGrace.MarginSeconds} s, or {PreemptGrace.UnmeasuredSeconds} s before any)",
        };
        var tokenFile = new Option<FileInfo?>("--token-file") { Description = "The operator token, or with --coordinator your submitter credential, from this file, readable only by you (default: a fresh random one; with --coordinator: ADAN_JOB_TOKEN)" };
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
        var program = new Option<FileInfo?>("--program")
        {
            Description = "Run this program as the ranks (an executable, or a .dll run by dotnet) with the arguments after --, instead of an adan command: "
                + "an application of the Adan.Sharded.Training library (TrainingJob); restarts pass resume=latest to it in ADAN_SET",
        };
        var command = new Argument<string[]>("command")
        {
            Description = "The adan subcommand and its arguments, after -- (with --program: the program's arguments)", Arity = ArgumentArity.ZeroOrMore,
        };
        var launch = new Command("launch", "Run an adan job on W ranks with mpiexec.mpich and a coordinator.")
        {
            ranks, hostfile, coordinator, listen, timeout, stall, join, grace, preemptGrace, tokenFile, job, maxRestarts, minRanks, program, command,
        };
        var security = new LaunchSecurity();
        security.AddTo(launch);
        launch.SetAction(r => RunAsync(new LaunchSettings(r.GetValue(ranks), r.GetValue(hostfile), r.GetValue(coordinator), r.GetValue(listen)!,
            r.GetValue(timeout), r.GetValue(stall), r.GetValue(join), r.GetValue(grace), r.GetValue(tokenFile), r.GetValue(job), r.GetValue(command)!,
            security.Bind(r), r.GetValue(maxRestarts), r.GetValue(minRanks), r.GetValue(preemptGrace)) { Program = r.GetValue(program)?.FullName }).GetAwaiter().GetResult());
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

    /// <summary>The longest preemption grace accepted: a day, for saves of very large states to slow storage.</summary>
    private const double MaxPreemptGraceSeconds = 86400;


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
        var (ranks, hostfile, coordinatorUrl, _, heartbeatTimeout, stallTimeout, joinTimeout, _, tokenFile, jobId, arguments, _, maxRestarts, minRanks, _) = settings;
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
        if (settings.PreemptGraceSeconds is { } preempt && (!double.IsFinite(preempt) || preempt < 0 || preempt > MaxPreemptGraceSeconds))
        {
            throw new UsageException($"--preempt-grace {preempt.ToString(CultureInfo.InvariantCulture)}: expected a number of seconds >= 0, at most {MaxPreemptGraceSeconds}");
        }
        if (settings.Program is { } programPath)
        {
            if (!File.Exists(programPath))
            {
                throw new UsageException($"--program {programPath}: no such file; give the path of your built program (its executable or .dll)");
            }
        }
        else if (arguments.Length == 0)
        {
            throw new UsageException("nothing to launch: give the adan command after -- (e.g. -- train --config FILE) or --program PATH");
        }
        if (hostfile is { Exists: false })
        {
            throw new UsageException($"--hostfile {hostfile.FullName}: no such file");
        }
        if (maxRestarts < 0 || maxRestarts > MaxRestartsLimit)
        {
            throw new UsageException($"--max-restarts {maxRestarts}: expected an integer in [0, {MaxRestartsLimit}]");
        }
        // Inside a Slurm allocation the allocation is the hostfile, unless one is given.
        var allocation = hostfile is null ? SlurmAllocation.FromProcess() : null;
        if (allocation is not null && allocation.Hosts.Slots != ranks)
        {
            throw new UsageException(
                $"-n {ranks}: the Slurm allocation{(allocation.JobId is null ? "" : $" {allocation.JobId}")} has {allocation.Hosts.Slots} task(s) ({allocation.Describe()}); " +
                $"give -n {allocation.Hosts.Slots}, or --hostfile FILE to place the ranks yourself");
        }
        if (minRanks is { } min)
        {
            if (hostfile is null && allocation is null)
            {
                throw new UsageException("--min-ranks needs --hostfile (or a Slurm allocation): it drops the host that failed from the hostfile's hosts");
            }
            if (min < 1 || min > ranks)
            {
                throw new UsageException($"--min-ranks {min}: expected an integer in [1, -n {ranks}]");
            }
            if (LaunchedTrainConfig.TryRead(arguments, settings.RunsProgram) is null)
            {
                throw new UsageException("--min-ranks needs a train command (or a program's --config/--set) with a valid config: the restart keeps its global batch (ranks × micro_batch × accumulation)");
            }
        }
        jobId ??= $"job-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        var givenToken = tokenFile is not null ? TokenFile.Read(tokenFile) : null;
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
                    $"--coordinator needs a submitter credential from the coordinator's operator (or its operator token): give --token-file FILE or set {CoordinatorEnvironment.TokenVariable}");
            }
            settings.Security.CheckStanding(coordinatorUrl);
        }
        // Ranks and proxies whose parent dies first stay in this process's tree, so that the cleanup finds them.
        Signal.AdoptOrphans();
        // Taken over before anything that needs cleaning up exists: a stop signal at any moment from here on ends the
        // process through the finally blocks below, which reap the coordinator before removing its directory.
        using var signals = new LaunchSignals();
        if (allocation is null)
        {
            return await RunOnHostsAsync(settings with { JobId = jobId }, givenToken, signals);
        }
        var scratch = Directory.CreateTempSubdirectory("adan-slurm-");
        try
        {
            var path = Path.Combine(scratch.FullName, "hostfile");
            allocation.Hosts.Write(path);
            Console.Error.WriteLine($"adan launch: hosts from the Slurm allocation{(allocation.JobId is null ? "" : $" {allocation.JobId}")} " +
                $"({SlurmAllocation.NodeListVariable}={allocation.NodeList}): {allocation.Describe()}");
            return await RunOnHostsAsync(settings with { JobId = jobId, Hostfile = new FileInfo(path) }, givenToken, signals);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    /// <summary>Runs the launch with its hosts and job id settled: on a standing coordinator, or on one started here.</summary>
    private static async Task<int> RunOnHostsAsync(LaunchSettings settings, string? givenToken, LaunchSignals signals)
    {
        var (_, _, coordinatorUrl, listen, heartbeatTimeout, stallTimeout, joinTimeout, _, _, _, arguments, security, _, _, _) = settings;
        if (coordinatorUrl is not null)
        {
            security.WarnIfPlaintextOffLoopback(coordinatorUrl);
            // A submitter credential (or the operator token): it creates each attempt's job, which the ranks act on
            // with that job's own token only.
            var credential = givenToken!.Trim();
            return await LaunchAttempts.RunAsync(settings, coordinatorUrl,
                (id, w, restarts) => security.CreateJobAsync(coordinatorUrl, credential, id, w, restarts), coordinatorPid: null, signals);
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
                    .. security.CoordinatorArguments(arguments, settings.RunsProgram),
                ];
                if (stallTimeout is { } stall)
                {
                    flags.AddRange(["--stall-timeout", stall.ToString("R", CultureInfo.InvariantCulture)]);
                }
                if (joinTimeout is { } join)
                {
                    flags.AddRange(["--join-timeout", join.ToString("R", CultureInfo.InvariantCulture)]);
                }
                coordinator = await CoordinatorProcess.StartAsync(flags, token, TimeSpan.FromSeconds(60), signals.Token);
            }
            catch (OperationCanceledException) when (signals.Received is { } received)
            {
                Console.Error.WriteLine($"adan launch: stopped by {LaunchSignals.Name(received)} while the coordinator started; job {settings.JobId} never ran");
                return LaunchSignals.ExitCode(received);
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
                return await LaunchAttempts.RunAsync(settings, address,
                    (id, w, restarts) => security.CreateJobAsync(address, token, id, w, restarts), coordinator.Pid, signals);
            }
        }
        finally
        {
            dataDirectory.Delete(recursive: true);
        }
    }
}
