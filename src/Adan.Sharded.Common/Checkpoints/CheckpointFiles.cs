using System.Globalization;

namespace Adan.Sharded.Checkpoints;

/// <summary>File and directory names of the checkpoint format, and how a path given by a user is resolved.</summary>
public static class CheckpointFiles
{
    /// <summary>Rank <paramref name="rank"/>'s shard file: <c>shard-{r:05}-of-{W:05}.safetensors</c>.</summary>
    public static string ShardFileName(int rank, int worldSize) =>
        string.Create(CultureInfo.InvariantCulture, $"shard-{rank:D5}-of-{worldSize:D5}.safetensors");

    /// <summary>The directory of a step's checkpoint under <paramref name="root"/>: <c>step-{step:D10}</c>.</summary>
    public static string StepDirectory(string root, long step) =>
        Path.Combine(Path.GetFullPath(root), string.Create(CultureInfo.InvariantCulture, $"step-{step:D10}"));

    /// <summary>
    /// True when <paramref name="name"/> names a file directly inside a checkpoint directory: not empty, no directory
    /// separator, not <c>.</c> or <c>..</c>, and not the manifest itself.
    /// </summary>
    public static bool IsPlainFileName(string name) =>
        !string.IsNullOrEmpty(name) && name.IndexOfAny(['/', '\\', '\0']) < 0 && name is not ("." or "..") && name != CheckpointManifest.FileName;

    /// <summary>True when the directory holds a manifest, i.e. the checkpoint was committed.</summary>
    public static bool IsCommitted(string directory) => File.Exists(Path.Combine(directory, CheckpointManifest.FileName));

    /// <summary>The committed checkpoints under a root as (step, directory), oldest first.</summary>
    public static IReadOnlyList<(long Step, string Directory)> Committed(string root) =>
        [.. StepDirectories(root).Where(c => IsCommitted(c.Directory))];

    /// <summary>Every <c>step-*</c> directory under a root, committed or not, as (step, directory), oldest first.</summary>
    public static IReadOnlyList<(long Step, string Directory)> StepDirectories(string root)
    {
        if (!Directory.Exists(root))
        {
            return [];
        }
        var found = new List<(long, string)>();
        foreach (var directory in Directory.EnumerateDirectories(root, "step-*"))
        {
            var name = Path.GetFileName(directory);
            if (long.TryParse(name.AsSpan("step-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var step))
            {
                found.Add((step, Path.GetFullPath(directory)));
            }
        }
        return [.. found.OrderBy(c => c.Item1)];
    }

    /// <summary>
    /// A checkpoint directory (holding <c>manifest.json</c>) as given, or, for a root holding <c>step-*</c>
    /// subdirectories, the committed one with the highest step.
    /// </summary>
    /// <exception cref="CheckpointException">Neither: the path does not exist or holds no committed checkpoint.</exception>
    public static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full))
        {
            throw new CheckpointException($"{full} does not exist.");
        }
        if (IsCommitted(full))
        {
            return full;
        }
        var committed = Committed(full);
        if (committed.Count == 0)
        {
            throw new CheckpointException(
                $"{full} is not a committed checkpoint (no {CheckpointManifest.FileName}) and holds no committed step-* checkpoint.");
        }
        return committed[^1].Directory;
    }
}
