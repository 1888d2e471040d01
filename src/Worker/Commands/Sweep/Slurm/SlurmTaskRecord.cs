using System.Text.Json;
using Adan.Sharded.IO;

namespace Adan.Worker.Commands.Sweep.Slurm;

/// <summary>
/// Which Slurm array task a run was submitted as (<c>slurm-task.json</c> in its directory), so that a rerun of the sweep
/// follows a task that is still queued or running, or collects one that ended while no sweep watched, instead of
/// submitting the run again.
/// </summary>
/// <param name="Job">The array's job id.</param>
/// <param name="Task">The task's index in the array.</param>
internal sealed record SlurmTaskRecord(string Job, int Task)
{
    /// <summary>The file name inside a run's directory.</summary>
    public const string FileName = "slurm-task.json";

    /// <summary>The record in <paramref name="runDirectory"/>, or null when there is none or it cannot be read.</summary>
    public static SlurmTaskRecord? Read(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<SlurmTaskRecord>(File.ReadAllText(path), RunResultFile.Options) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Writes the record into <paramref name="runDirectory"/> atomically.</summary>
    public void Write(string runDirectory) =>
        AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), JsonSerializer.Serialize(this, RunResultFile.Options));

    /// <summary>The name Slurm gives the task (<c>JOB_TASK</c>), as in its output file.</summary>
    public override string ToString() => $"{Job}_{Task}";
}
