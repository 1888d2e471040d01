using System.Text.Json.Serialization;

namespace Adan.Sharded.Checkpoints;

/// <summary>One rank's shard file as the manifest records it (the same fields the coordinator's manifest has).</summary>
/// <param name="Rank">The rank that wrote it.</param>
/// <param name="File">File name relative to the checkpoint directory, e.g. <c>shard-00000-of-00004.safetensors</c>.</param>
/// <param name="Bytes">Size of the file.</param>
/// <param name="Sha256">SHA-256 of the whole file, 64 lowercase hex digits.</param>
public sealed record CheckpointShard(
    [property: JsonPropertyName("rank")] int Rank,
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("sha256")] string Sha256);
