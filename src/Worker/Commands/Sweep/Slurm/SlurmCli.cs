using System.Diagnostics;
using System.Globalization;

namespace Adan.Worker.Commands.Sweep.Slurm;

/// <summary>
/// The three Slurm commands a sweep needs, run as programs from <c>PATH</c> (so a site's wrappers and <c>SLURM_CONF</c>
/// apply): <c>sbatch --parsable</c> to submit an array, <c>squeue -r</c> to see which of its tasks are still queued or
/// running, <c>scancel</c> to end it.
/// </summary>
internal static class SlurmCli
{
    /// <summary>How long one command may take before the sweep gives up on it (a controller that does not answer).</summary>
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Submits a batch script; returns its job id (the array's id for an array).</summary>
    /// <param name="arguments">Everything after <c>sbatch --parsable</c>: options, the script and its arguments.</param>
    /// <exception cref="IOException">sbatch refused the job or could not be run; the message carries its last stderr line.</exception>
    public static string Submit(IReadOnlyList<string> arguments)
    {
        var (code, stdout, stderr) = Run("sbatch", ["--parsable", .. arguments]);
        // --parsable prints "jobid" or "jobid;cluster".
        var id = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault()?.Split(';')[0];
        if (code != 0 || id is null || !id.All(char.IsAsciiDigit))
        {
            throw new IOException($"sbatch refused the sweep's job array (exit {code}): {LastLine(stderr, stdout)}");
        }
        return id;
    }

    /// <summary>
    /// The state (<c>PENDING</c>, <c>RUNNING</c>, <c>COMPLETING</c>, …) of every task of <paramref name="job"/> that the
    /// controller still lists, by task index; empty when it lists none (every task ended, or the job is unknown); null
    /// when squeue failed (the controller did not answer), so that the caller asks again rather than judge.
    /// </summary>
    public static IReadOnlyDictionary<int, string>? Tasks(string job)
    {
        // %F is the array's job id and %K the task's index, pending or running (%A and %a name a running task's own job
        // and are null while it is pending, in Slurm 22.05).
        var (code, stdout, stderr) = Run("squeue", ["-h", "-r", "-o", "%F %K %T", "-j", job]);
        if (code != 0)
        {
            // A job that ended longer ago than the controller's MinJobAge is unknown to it: nothing of it is queued.
            return stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase) ? new Dictionary<int, string>() : null;
        }
        var tasks = new Dictionary<int, string>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 3 && fields[0] == job && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var task))
            {
                tasks[task] = fields[2];
            }
        }
        return tasks;
    }

    /// <summary>Cancels <paramref name="jobs"/> (every task of each array); a job that already ended is no error.</summary>
    public static void Cancel(IReadOnlyCollection<string> jobs)
    {
        if (jobs.Count > 0)
        {
            Run("scancel", [.. jobs]);
        }
    }

    private static (int Code, string Stdout, string Stderr) Run(string program, IReadOnlyList<string> arguments)
    {
        var psi = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new IOException($"cannot start {program}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"cannot run {program}: {e.Message}; is Slurm's client installed and on PATH?", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(CommandTimeout))
            {
                process.Kill(entireProcessTree: true);
                throw new IOException($"{program} did not answer within {CommandTimeout.TotalSeconds:F0} s (is the Slurm controller up?)");
            }
            return (process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }

    private static string LastLine(string stderr, string stdout) =>
        (stderr + "\n" + stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no message";
}
