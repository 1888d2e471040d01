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
    /// The shard list does not cover ranks 0..W-1 once each, names a file outside the directory, a shard file is
    /// missing or has another size, or the directory already holds a manifest. Nothing is written then.
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
        CheckShardList(manifest, manifestPath);
        foreach (var shard in manifest.Shards)
        {
            var info = new FileInfo(Path.Combine(directory, shard.File));
            if (!info.Exists || info.Length != shard.Bytes)
            {
                throw new CheckpointException(
                    $"{info.FullName} {(info.Exists ? $"has {info.Length} bytes, rank {shard.Rank} reported {shard.Bytes}" : "does not exist")}; not committing.");
            }
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

    /// <summary>Checks that the shards are one per rank of the manifest's world and name plain files of the directory.</summary>
    /// <exception cref="CheckpointException">The list is not a valid shard list.</exception>
    public static void CheckShardList(CheckpointManifest manifest, string source)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.WorldSize < 1)
        {
            throw new CheckpointException($"{source}: world_size is {manifest.WorldSize}; a checkpoint has at least one shard.");
        }
        var ranks = manifest.Shards.Select(s => s.Rank).Order().ToArray();
        if (!ranks.SequenceEqual(Enumerable.Range(0, manifest.WorldSize)))
        {
            throw new CheckpointException(
                $"{source}: the shards are of ranks [{string.Join(", ", ranks.Take(16))}{(ranks.Length > 16 ? ", ..." : "")}], expected one for each rank 0..{manifest.WorldSize - 1}.");
        }
        foreach (var shard in manifest.Shards)
        {
            if (!CheckpointFiles.IsPlainFileName(shard.File))
            {
                throw new CheckpointException(
                    $"{source}: the shard file '{shard.File}' of rank {shard.Rank} is not a plain file name inside the checkpoint directory.");
            }
        }
    }
}
