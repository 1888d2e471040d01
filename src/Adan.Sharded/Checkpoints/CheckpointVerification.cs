namespace Adan.Sharded.Checkpoints;

/// <summary>A checkpoint checked file by file (see <see cref="CheckpointVerifier"/>).</summary>
/// <param name="Directory">The checkpoint directory.</param>
/// <param name="Manifest">Its manifest.</param>
/// <param name="Shards">Every shard's outcome, by rank.</param>
/// <param name="ModuleBuffersProblem">What is wrong with the module buffers file (naming it); null when it matches or there is none.</param>
public sealed record CheckpointVerification(string Directory, CheckpointManifest Manifest, IReadOnlyList<ShardVerification> Shards,
    string? ModuleBuffersProblem = null)
{
    /// <summary>True when every shard and the module buffers file match: the checkpoint is complete and loadable.</summary>
    public bool Ok => Shards.All(s => s.Ok) && ModuleBuffersProblem is null;

    /// <summary>The first problem, or null.</summary>
    public string? FirstProblem => Shards.FirstOrDefault(s => !s.Ok)?.Problem ?? ModuleBuffersProblem;

    /// <summary>Every problem, shards first.</summary>
    public IEnumerable<string> Problems => Shards.Where(s => !s.Ok).Select(s => s.Problem!).Concat(ModuleBuffersProblem is null ? [] : [ModuleBuffersProblem]);

    /// <summary>Parameter elements (padding excluded).</summary>
    public long ParameterCount => Manifest.Layout.Parameters.Sum(p => p.Numel);

    /// <summary>Bytes of all shard files together.</summary>
    public long Bytes => Manifest.Shards.Sum(s => s.Bytes) + (Manifest.ModuleBuffers?.Bytes ?? 0);
}
