using System.Globalization;
using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>File and directory names of the checkpoint format, and how a path given by a user is resolved.</summary>
public static class CheckpointFiles
{
    /// <summary>Rank <paramref name="rank"/>'s shard file: <c>shard-{r:05}-of-{W:05}.safetensors</c>.</summary>
    public static string ShardFileName(int rank, int worldSize) =>
        string.Create(CultureInfo.InvariantCulture, $"shard-{rank:D5}-of-{worldSize:D5}.safetensors");

    /// <summary>The file holding the module's buffers (format version 2), written by rank 0 next to the shards.</summary>
    public const string ModuleBuffersFileName = "buffers.safetensors";

    /// <summary>The directory of a step's checkpoint under <paramref name="root"/>: <c>step-{step:D10}</c>.</summary>
    public static string StepDirectory(string root, long step) =>
        Path.Combine(Path.GetFullPath(root), string.Create(CultureInfo.InvariantCulture, $"step-{step:D10}"));

    /// <summary>
    /// Whether <paramref name="directory"/> (a coordinator's answer to Begin) is the directory of
    /// <paramref name="step"/> under <paramref name="root"/>, as given or with its links resolved (the coordinator
    /// resolves them); with no root (the coordinator's own), whether it is <c>&lt;absolute&gt;/&lt;job&gt;/step-N</c>.
    /// </summary>
    public static bool IsStepDirectoryOf(string directory, string? root, string jobId, long step)
    {
        if (string.IsNullOrEmpty(directory) || !Path.IsPathFullyQualified(directory) || Path.GetFullPath(directory) != directory)
        {
            return false;
        }
        if (root is null)
        {
            var expectedName = Path.GetFileName(StepDirectory("/", step));
            return Path.GetFileName(directory) == expectedName && Path.GetFileName(Path.GetDirectoryName(directory)) == jobId;
        }
        return directory == StepDirectory(root, step)
            || (RealPath.Of(root) is { } resolved && directory == StepDirectory(resolved, step));
    }

    /// <summary>
    /// True when <paramref name="name"/> names a file directly inside a checkpoint directory: not empty, no directory
    /// separator, not <c>.</c> or <c>..</c>, and not the manifest itself.
    /// </summary>
    public static bool IsPlainFileName(string name) =>
        !string.IsNullOrEmpty(name) && name.IndexOfAny(['/', '\\', '\0']) < 0 && name is not ("." or "..") && name != CheckpointManifest.FileName;

    /// <summary>
    /// The path of the file <paramref name="name"/> of a checkpoint directory, refusing a name that is not a plain file
    /// name and a symbolic link whose final target lies outside the directory: a manifest never makes a reader open a
    /// file elsewhere. A missing file is returned as is (the caller reports it).
    /// </summary>
    /// <exception cref="CheckpointException">The name or the link leads outside the directory.</exception>
    public static string PathInside(string directory, string name)
    {
        var full = Path.GetFullPath(directory);
        if (!IsPlainFileName(name))
        {
            throw new CheckpointException($"{full}: '{name}' is not a plain file name inside the checkpoint directory.");
        }
        var path = Path.Combine(full, name);
        FileSystemInfo? target;
        try
        {
            target = File.ResolveLinkTarget(path, returnFinalTarget: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return path;
        }
        catch (IOException e)
        {
            throw new CheckpointException($"{path} is a symbolic link that cannot be resolved: {e.Message}", e);
        }
        if (target is not null && !string.Equals(Path.GetDirectoryName(Path.GetFullPath(target.FullName)), full, StringComparison.Ordinal))
        {
            throw new CheckpointException($"{path} is a symbolic link to {target.FullName}, outside the checkpoint directory; refusing to read it.");
        }
        return path;
    }

    /// <summary>True when the directory holds a manifest, i.e. the checkpoint was committed.</summary>
    public static bool IsCommitted(string directory) => File.Exists(Path.Combine(directory, CheckpointManifest.FileName));

    /// <summary>The committed checkpoints under a root as (step, directory), oldest first.</summary>
    public static IReadOnlyList<(long Step, string Directory)> Committed(string root) =>
        [.. StepDirectories(root).Where(c => IsCommitted(c.Directory))];

    /// <summary>
    /// Every <c>step-*</c> directory under a root, committed or not, as (step, directory), oldest first. A symbolic
    /// link named <c>step-*</c> is not one: no writer makes them, and a planted one must not count as the newest
    /// checkpoint (making retention delete real ones) nor be resumed from.
    /// </summary>
    public static IReadOnlyList<(long Step, string Directory)> StepDirectories(string root)
    {
        if (!Directory.Exists(root))
        {
            return [];
        }
        var found = new List<(long, string)>();
        foreach (var directory in new DirectoryInfo(root).EnumerateDirectories("step-*"))
        {
            if (directory.LinkTarget is null
                && long.TryParse(directory.Name.AsSpan("step-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var step))
            {
                found.Add((step, Path.GetFullPath(directory.FullName)));
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
