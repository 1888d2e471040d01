using System.Globalization;

namespace Adan.Worker.Commands.Sweep.Slurm;

/// <summary>How a sweep's runs are submitted as Slurm job arrays: one array per stage of the sweep, one task per run.</summary>
/// <param name="Adan">The <c>adan</c> executable every task runs (the sweep's own, on a file system every node sees).</param>
/// <param name="BatchScript">The script that starts one run as a job (<c>deploy/slurm.sbatch</c>).</param>
/// <param name="SbatchArguments">The user's own <c>sbatch</c> options (<c>--sbatch-arg</c>), after the sweep's, so that they win.</param>
/// <param name="Throttle">Tasks of an array running at once (<c>--array=…%P</c>, from <c>--parallel</c>); null lets Slurm run as many as fit.</param>
/// <param name="WorldSize">Ranks per run: each task asks for that many Slurm tasks.</param>
/// <param name="Directory">The sweep's <c>slurm/</c> directory: the task script and each task's Slurm output.</param>
internal sealed record SlurmSubmission(string Adan, string BatchScript, IReadOnlyList<string> SbatchArguments, int? Throttle, int WorldSize, string Directory)
{
    /// <summary>The <c>sbatch</c> arguments (after <c>--parsable</c>) of an array whose tasks run <paramref name="runDirectories"/>.</summary>
    public IReadOnlyList<string> Arguments(string script, IReadOnlyList<string> runDirectories)
    {
        ArgumentOutOfRangeException.ThrowIfZero(runDirectories.Count);
        var array = string.Create(CultureInfo.InvariantCulture, $"--array=0-{runDirectories.Count - 1}{(Throttle is { } p ? $"%{p}" : "")}");
        return
        [
            array,
            "--job-name=adan-sweep",
            string.Create(CultureInfo.InvariantCulture, $"--ntasks={WorldSize}"),
            $"--output={Path.Combine(Directory, "%A_%a.out")}",
            $"--chdir={Environment.CurrentDirectory}",
            .. SbatchArguments,
            script,
            .. runDirectories,
        ];
    }
}
