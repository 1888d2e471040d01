using System.Text;

namespace Adan.Worker.Commands.Sweep.Slurm;

/// <summary>
/// The batch script of a sweep's job array. Task K takes the K-th run directory among its arguments and starts the run
/// as <c>deploy/slurm.sbatch</c> starts a job (a private token, the allocation's hosts, TLS for several nodes,
/// <c>adan launch</c>), with the run's <c>config.json</c> and its <c>--set</c> arguments (<see cref="ArgumentsFileName"/>,
/// NUL-separated); the launch's output goes to the run's <c>output.log</c>, and its exit code, once it has one, to
/// <see cref="ExitFileName"/> (written whole, then renamed), which is how the sweep learns that the run ended.
/// </summary>
/// <remarks>
/// The run directories travel as the job's arguments, which Slurm keeps with the job, so a task reads the list it was
/// submitted with even when a later sweep writes another array. The directories must be on a file system every node
/// sees, as the repository is for <c>deploy/slurm.sbatch</c>.
/// </remarks>
internal static class SlurmTaskScript
{
    /// <summary>The script's file name inside the sweep's <c>slurm/</c> directory.</summary>
    public const string FileName = "sweep-task.sbatch";

    /// <summary>The run's <c>--set</c> arguments for <c>adan train</c>, NUL-separated, inside its directory.</summary>
    public const string ArgumentsFileName = "slurm-arguments";

    /// <summary>The launch's exit code, inside the run's directory; absent until the launch ended on its own.</summary>
    public const string ExitFileName = "slurm-exit";

    /// <summary>The script that runs one run per task with <paramref name="adan"/> started by <paramref name="batchScript"/>.</summary>
    /// <param name="adan">The <c>adan</c> executable the runs use (the sweep's own).</param>
    /// <param name="batchScript">The job-starting script, <c>deploy/slurm.sbatch</c> or one like it: <c>SCRIPT CONFIG [adan train arguments]</c>, honouring <c>ADAN</c>.</param>
    public static string Text(string adan, string batchScript)
    {
        var text = new StringBuilder();
        text.Append("""
            #!/usr/bin/env bash
            # Written by `adan sweep --slurm`: array task K runs the K-th run directory of its arguments, started the way
            # the batch script below starts a job, and leaves the launch's exit code in the directory's slurm-exit.
            set -uo pipefail
            task=${SLURM_ARRAY_TASK_ID:?"not an array task: submit this script with sbatch --array"}
            if (( task >= $# )); then
                echo "adan sweep task $task: the array has only $# run directories" >&2
                exit 2
            fi
            shift "$task"
            run=$1
            rm -f "$run/slurm-exit" "$run/slurm-exit.partial"
            mapfile -d '' -t settings < "$run/slurm-arguments"

            """);
        text.Append("export ADAN=").Append(Quote(adan)).Append('\n');
        text.Append("bash ").Append(Quote(batchScript)).Append(" \"$run/config.json\" \"${settings[@]}\" > \"$run/output.log\" 2>&1\n");
        text.Append("""
            status=$?
            printf '%s\n' "$status" > "$run/slurm-exit.partial" && mv -f "$run/slurm-exit.partial" "$run/slurm-exit"
            exit "$status"

            """);
        return text.ToString();
    }

    /// <summary>The NUL-separated contents of <see cref="ArgumentsFileName"/>: <c>--set KEY=VALUE</c> pairs.</summary>
    public static byte[] Arguments(IEnumerable<string> settings) =>
        Encoding.UTF8.GetBytes(string.Concat(settings.Select(setting => $"--set\0{setting}\0")));

    /// <summary>A word for bash, in single quotes.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
