using System.Globalization;
using Adan.Worker.Commands;
using Adan.Worker.Processes;

namespace Adan.Worker.Launch;

/// <summary>
/// The attempts of one <c>adan launch</c>: the job, and after each failure while restarts are left, the job again from
/// its last committed checkpoint (see <see cref="RestartPlan"/>).
/// </summary>
internal static class LaunchAttempts
{
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
    /// <param name="signals">The launcher's signals: after one, no further attempt starts.</param>
    public static async Task<int> RunAsync(LaunchSettings settings, Uri coordinatorUrl, Func<string, int, int, Task<string>> createJob, int? coordinatorPid,
        LaunchSignals signals)
    {
        var jobId = settings.JobId!;
        var config = settings.MinRanks is null ? null : LaunchedTrainConfig.TryRead(settings.Arguments, settings.RunsProgram);
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
                string[] overrides = restarts == 0 ? [] : ["resume=latest", .. plan.Accumulation is { } a ? new[] { $"accumulation={a}" } : []];
                // adan train takes them as --set; a program's options read them from ADAN_SET (TrainingOptions), since
                // its command line is its own.
                string[] arguments = settings.RunsProgram ? settings.Arguments : [.. settings.Arguments, .. overrides.SelectMany(o => new[] { "--set", o })];
                var token = await createJob(id, plan.Ranks, restarts);
                var outcome = await JobRun.RunAsync(settings, coordinatorUrl, token, coordinatorPid, new JobRun.Attempt(id, plan.Ranks, hostfile, arguments, restarts)
                    {
                        Overrides = settings.RunsProgram ? overrides : [],
                    },
                    signals);
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
}
