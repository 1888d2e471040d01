namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Checks a committed checkpoint without loading it: manifest, layout, every shard's size, SHA-256 and header, and the
/// module buffers file's.
/// </summary>
public static class CheckpointVerifier
{
    /// <summary>Verifies the checkpoint at <paramref name="path"/> (a checkpoint directory, or a root: its newest committed one).</summary>
    /// <exception cref="CheckpointException">No committed checkpoint there, or its manifest or layout is not valid.</exception>
    public static CheckpointVerification Verify(string path)
    {
        var directory = CheckpointFiles.Resolve(path);
        var manifest = CheckpointManifest.Read(directory);
        var manifestPath = Path.Combine(directory, CheckpointManifest.FileName);
        var layout = manifest.ReadLayout(manifestPath);
        var results = new List<ShardVerification>();
        for (var r = 0; r < manifest.WorldSize; r++)
        {
            var shard = manifest.Shards.FirstOrDefault(s => s.Rank == r);
            if (shard is null)
            {
                var expected = new CheckpointShard(r, CheckpointFiles.ShardFileName(r, manifest.WorldSize), 0, "");
                results.Add(new ShardVerification(expected, $"{manifestPath} lists no shard for rank {r}."));
                continue;
            }
            var (_, problem) = ShardChecks.Check(directory, shard, checksum: true, ShardChecks.Expected(manifest, layout, r));
            results.Add(new ShardVerification(shard, problem));
        }
        string? buffersProblem = null;
        if (manifest.ModuleBuffers is { } buffers)
        {
            try
            {
                buffersProblem = ModuleBuffersFile.Check(CheckpointFiles.PathInside(directory, buffers.File), buffers);
            }
            catch (CheckpointException e)
            {
                buffersProblem = e.Message;
            }
        }
        return new CheckpointVerification(directory, manifest, results, buffersProblem);
    }
}
