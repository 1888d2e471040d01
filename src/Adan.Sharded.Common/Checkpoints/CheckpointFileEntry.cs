using System.Text.Json.Serialization;

namespace Adan.Sharded.Checkpoints;

/// <summary>A file of a checkpoint besides the shards, as the manifest records it.</summary>
/// <param name="File">File name relative to the checkpoint directory.</param>
/// <param name="Bytes">Size of the file.</param>
/// <param name="Sha256">SHA-256 of the whole file, 64 lowercase hex digits.</param>
public sealed record CheckpointFileEntry(
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("sha256")] string Sha256);
