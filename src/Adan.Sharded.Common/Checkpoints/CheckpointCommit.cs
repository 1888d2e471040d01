using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// The one way a checkpoint becomes committed, whoever commits it (the local catalogue on rank 0, or the coordinator):
/// the shard list is checked against the files on disk, then <c>manifest.json</c> is created atomically and never
/// replaced.
/// </summary>
/// <remarks>
/// Creating the manifest is the commit record: it must not exist until every shard it names is durable and the right
/// size, and an existing one is never overwritten, so a second commit of the same step fails instead of silently
/// replacing the first.
/// </remarks>
public static class CheckpointCommit
{
    /// <summary>Commits <paramref name="manifest"/> in <paramref name="directory"/>.</summary>
    /// <param name="directory">The checkpoint directory holding the shard files.</param>
    /// <param name="manifest">The complete manifest, its <see cref="CheckpointManifest.Shards"/> one per rank.</param>
    /// <returns>The path of the manifest written.</returns>
    /// <exception cref="CheckpointException">
    /// The manifest breaks a rule of <see cref="CheckpointManifestRules"/> (e.g. the shard list does not cover ranks
    /// 0..W-1 once each with their canonical file names), a file it names is missing or has another size, or the
    /// directory already holds a manifest. Nothing is written then.
    /// </exception>
    /// <exception cref="IOException">Writing the manifest failed; the checkpoint stays uncommitted.</exception>
    public static string Commit(string directory, CheckpointManifest manifest)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(manifest);
        var manifestPath = Path.Combine(Path.GetFullPath(directory), CheckpointManifest.FileName);
        if (File.Exists(manifestPath))
        {
            throw new CheckpointException($"{manifestPath} already exists; a committed checkpoint is never overwritten.");
        }
        CheckpointManifestRules.Check(manifest, manifestPath, requireShards: true);
        foreach (var shard in manifest.Shards)
        {
            RequireFile(directory, shard.File, shard.Bytes, $"rank {shard.Rank} reported {shard.Bytes}");
        }
        if (manifest.ModuleBuffers is { } buffers)
        {
            RequireFile(directory, buffers.File, buffers.Bytes, $"the manifest says {buffers.Bytes}");
        }
        var ordered = manifest with { Shards = [.. manifest.Shards.OrderBy(s => s.Rank)] };
        try
        {
            AtomicFile.CreateNewText(manifestPath, ordered.ToJson());
        }
        catch (IOException) when (File.Exists(manifestPath))
        {
            throw new CheckpointException($"{manifestPath} was committed by another writer at the same time; a committed checkpoint is never overwritten.");
        }
        return manifestPath;
    }

    private static void RequireFile(string directory, string name, long bytes, string reported)
    {
        var info = new FileInfo(CheckpointFiles.PathInside(directory, name));
        if (!info.Exists || info.Length != bytes)
        {
            throw new CheckpointException(
                $"{info.FullName} {(info.Exists ? $"has {info.Length} bytes, {reported}" : "does not exist")}; not committing.");
        }
    }
}
