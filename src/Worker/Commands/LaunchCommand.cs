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
/// loopback with a fresh random token (unless one is given in a private file), runs <c>mpiexec.mpich -n W adan ...</c>
/// with the job's coordinator address, token and id in the environment, streams the output, stops
/// the coordinator and exits as the job did (see <see cref="ExitCodes"/>). When a rank dies or hangs, the job ends and the
/// launcher names the rank.
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
        var job = new Option<string?>("--job-id") { Description = "Job id (default: a fresh random one)" };
        var tokenFile = new Option<FileInfo?>("--token-file") { Description = "Job token from this file, readable only by you (default: a fresh random one)" };
        var command = new Argument<string[]>("command") { Description = "The adan subcommand and its arguments, after --", Arity = ArgumentArity.OneOrMore };
        var launch = new Command("launch", "Run an adan job on W ranks with mpiexec.mpich and a coordinator.") { ranks, hostfile, coordinator, listen, timeout, job, tokenFile, command };
        var security = new LaunchSecurity();
        security.AddTo(launch);
        launch.SetAction(r => RunAsync(r.GetValue(ranks), r.GetValue(hostfile), r.GetValue(coordinator), r.GetValue(listen)!, r.GetValue(timeout),
            r.GetValue(job), r.GetValue(tokenFile), r.GetValue(command)!, security.Bind(r)).GetAwaiter().GetResult());
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

    private static async Task<int> RunAsync(int ranks, FileInfo? hostfile, Uri? coordinatorUrl, string listen, double heartbeatTimeout, string? jobId, FileInfo? tokenFile,
        string[] arguments,
        LaunchSecurity.Settings security)
    {
        if (ranks < 1 || ranks > CoordinatorLimits.MaxWorldSize)
        {
            throw new UsageException($"-n {ranks}: the number of ranks must be in [1, {CoordinatorLimits.MaxWorldSize}]");
        }
        if (!HeartbeatTimeout.IsValid(heartbeatTimeout))
        {
            throw new UsageException($"--heartbeat-timeout {heartbeatTimeout.ToString(CultureInfo.InvariantCulture)}: {HeartbeatTimeout.Rule}");
        }
        if (hostfile is { Exists: false })
        {
            throw new UsageException($"--hostfile {hostfile.FullName}: no such file");
        }
        jobId ??= $"job-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        var givenToken = tokenFile is not null ? TokenFile.Read(tokenFile) : null;

        if (coordinatorUrl is not null)
        {
            givenToken ??= Environment.GetEnvironmentVariable(CoordinatorEnvironment.TokenVariable);
            if (string.IsNullOrWhiteSpace(givenToken))
            {
                throw new UsageException(
                    $"--coordinator needs the coordinator's operator token: give --token-file FILE or set {CoordinatorEnvironment.TokenVariable}");
            }
            security.CheckStanding(coordinatorUrl);
            security.WarnIfPlaintextOffLoopback(coordinatorUrl);
            // The ranks get the job's own token, which acts on this job only, never the operator token.
            var jobToken = await security.CreateJobAsync(coordinatorUrl, givenToken.Trim(), jobId, ranks);
            return await RunJobAsync(ranks, hostfile, coordinatorUrl, jobToken, jobId, arguments, security.TlsCa);
        }

        var dataDirectory = Directory.CreateTempSubdirectory("adan-coordinator-");
        try
        {
            var token = givenToken ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            CoordinatorProcess coordinator;
            try
            {
                coordinator = await CoordinatorProcess.StartAsync(
                [
                    "--listen", listen,
                    "--data-dir", dataDirectory.FullName,
                    "--heartbeat-timeout", heartbeatTimeout.ToString("R", CultureInfo.InvariantCulture),
                    // The trainer's keep_last governs the checkpoint root (it also counts earlier runs' checkpoints,
                    // which this per-launch coordinator never saw); this one only indexes.
                    "--keep-last", "0",
                    "--stop-on-stdin-eof",
                    .. security.CoordinatorArguments(arguments),
                ], token, TimeSpan.FromSeconds(60));
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
                var jobToken = await security.CreateJobAsync(address, token, jobId, ranks);
                return await RunJobAsync(ranks, hostfile, address, jobToken, jobId, arguments, security.TlsCa);
            }
        }
        finally
        {
            dataDirectory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Runs the job and returns <see cref="ExitCodes.Success"/>, <see cref="ExitCodes.Usage"/> when the ranks refused
    /// their command line (as the command run alone would), or <see cref="ExitCodes.Failure"/> for any other end.
    /// </summary>
    private static async Task<int> RunJobAsync(int ranks, FileInfo? hostfile, Uri coordinatorUrl, string token, string jobId, string[] arguments, FileInfo? tlsCa)
    {
        var psi = new ProcessStartInfo("mpiexec.mpich") { UseShellExecute = false };
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add(ranks.ToString());
        if (hostfile is not null)
        {
            psi.ArgumentList.Add("-f");
            psi.ArgumentList.Add(hostfile.FullName);
        }
        psi.ArgumentList.Add(Environment.ProcessPath ?? "adan");
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment[CoordinatorEnvironment.AddressVariable] = coordinatorUrl.ToString();
        psi.Environment[CoordinatorEnvironment.TokenVariable] = token;
        psi.Environment[CoordinatorEnvironment.JobVariable] = jobId;
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
            var watcher = WatchForFailureAsync(status, process, stop.Token);
            // Slurm, Kubernetes and the sweep stop a job with SIGTERM, a terminal with SIGINT: end the ranks here, so that
            // the coordinator is stopped and its directory removed on the way out instead of leaving orphans.
            using var signals = new StopSignals();
            try
            {
                await process.WaitForExitAsync(signals.Token);
            }
            catch (OperationCanceledException)
            {
                await stop.CancelAsync();
                await EndAsync(process);
                Console.Error.WriteLine($"adan launch: stopped by {signals.Received}; job {jobId}'s ranks and coordinator were ended");
                return signals.ExitCode;
            }
            await stop.CancelAsync();
            var failure = await watcher;
            if (process.ExitCode == ExitCodes.Success && failure is null)
            {
                return ExitCodes.Success;
            }
            var reason = failure ?? await DescribeDeadRanksAsync(status);
            Console.Error.WriteLine($"adan launch: job {jobId} failed (mpiexec exit code {process.ExitCode}){(reason is null ? "" : $": {reason}")}");
            return process.ExitCode == ExitCodes.Usage && failure is null ? ExitCodes.Usage : ExitCodes.Failure;
        }
    }

    /// <summary>
    /// Ends mpiexec and the ranks under it: SIGTERM first (Hydra passes it on to every rank, on every host), then, after
    /// a grace period, a kill of whatever is left of the local process tree.
    /// </summary>
    private static async Task EndAsync(Process mpiexec)
    {
        Signal.Terminate(mpiexec.Id);
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await mpiexec.WaitForExitAsync(grace.Token);
        }
        catch (OperationCanceledException)
        {
        }
        if (!mpiexec.HasExited)
        {
            mpiexec.Kill(entireProcessTree: true);
            await mpiexec.WaitForExitAsync();
        }
    }

    /// <summary>
    /// Polls the job: notes the first rank whose process disappears (before the launcher's cleanup
    /// kills the rest) and, when the coordinator declares the job failed, gives the ranks a moment to
    /// abort and then ends mpiexec. Returns the failure, or null.
    /// </summary>
    private static async Task<string?> WatchForFailureAsync(CoordinatorClient status, Process process, CancellationToken cancellationToken)
    {
        var members = new List<MemberStatus>();
        var lastStatus = DateTime.MinValue;
        string? firstDeath = null;
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
                    var dead = gone.Where(m => left is not null && !left.Contains(m.Rank)).Select(m => $"rank {m.Rank} (pid {m.Pid} on {m.Host})").ToList();
                    if (dead.Count > 0)
                    {
                        firstDeath = $"{string.Join(", ", dead)} died";
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
                        process.Kill(entireProcessTree: true);
                    }
                    return reply.Reason;
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

    /// <summary>After mpiexec failed: which ranks' processes are gone (they ran on this host) or went silent.</summary>
    private static async Task<string?> DescribeDeadRanksAsync(CoordinatorClient status)
    {
        try
        {
            var reply = await status.StatusAsync();
            if (reply.State == JobState.Failed)
            {
                return reply.Reason;
            }
            var dead = reply.Members.Where(m => !m.Left && !IsAlive(m.Pid)).Select(m => $"rank {m.Rank} (pid {m.Pid} on {m.Host})").ToList();
            return dead.Count > 0 ? $"{string.Join(", ", dead)} ended without leaving the job" : null;
        }
        catch (Grpc.Core.RpcException)
        {
            return null;
        }
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
