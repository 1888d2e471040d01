using System.Globalization;
using System.Security.Cryptography;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// <c>buffers.safetensors</c>, the model's buffers (BatchNorm running statistics and the like) of a checkpoint in
/// format version 2, and its frozen parameters (<c>requires_grad</c> false), which have no place in the flat buffer
/// (<see cref="Flat.FlatParameters.FromModule(TorchSharp.torch.nn.Module, int, int, bool)"/>): one plain safetensors file under the module's names, written by rank 0 next to the shards
/// and listed in the manifest with its size and SHA-256 (<see cref="CheckpointManifest.ModuleBuffers"/>), so the
/// buffers are verified like the shards and <c>adan checkpoint export</c> can write them next to the weights.
/// </summary>
public static class ModuleBuffersFile
{
    /// <summary>Buffer dtypes a checkpoint keeps: what BatchNorm and similar modules hold.</summary>
    public static IReadOnlySet<string> DTypes { get; } = new HashSet<string>(StringComparer.Ordinal) { "F32", "F64", "I64" };

    /// <summary>Writes and fsyncs the file in <paramref name="directory"/>; returns its manifest entry.</summary>
    /// <param name="directory">The open checkpoint's directory.</param>
    /// <param name="buffers">The buffers, in the module's order; at least one.</param>
    /// <param name="step">The checkpoint's step, recorded in the file's metadata.</param>
    /// <exception cref="ArgumentException">No buffers, a dtype not in <see cref="DTypes"/>, or data of another size than the shape.</exception>
    public static CheckpointFileEntry Write(string directory, IReadOnlyList<ModuleBuffer> buffers, long step)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        if (buffers.Count == 0)
        {
            throw new ArgumentException("a buffers file holds at least one buffer.", nameof(buffers));
        }
        foreach (var b in buffers)
        {
            if (!DTypes.Contains(b.DType) || b.Data.LongLength != b.Shape.Aggregate(1L, (x, y) => x * y) * SafetensorsHeader.TryElementSize(b.DType))
            {
                throw new ArgumentException($"buffer '{b.Name}' ({b.DType}, shape [{string.Join(", ", b.Shape)}], {b.Data.Length} bytes) cannot be stored.", nameof(buffers));
            }
        }
        var header = SafetensorsHeader.For(buffers.Select(b => (b.Name, b.DType, b.Shape)),
            new Dictionary<string, string> { ["format"] = "pt", ["adan.step"] = step.ToString(CultureInfo.InvariantCulture) });
        (long Bytes, string Sha256) written;
        using (var writer = new HashingFileWriter(Path.Combine(directory, CheckpointFiles.ModuleBuffersFileName)))
        {
            writer.Write(header);
            foreach (var b in buffers)
            {
                writer.Write(b.Data);
            }
            written = writer.Complete();
        }
        return new CheckpointFileEntry(CheckpointFiles.ModuleBuffersFileName, written.Bytes, written.Sha256);
    }

    /// <summary>
    /// The buffers of a committed checkpoint, checked against the manifest (size and SHA-256) and the safetensors rules
    /// before any is returned; empty when the manifest lists no buffers file.
    /// </summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="manifest">Its manifest.</param>
    /// <exception cref="CheckpointException">The file is missing, altered, or not valid; the message names it.</exception>
    public static IReadOnlyList<ModuleBuffer> Read(string directory, CheckpointManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.ModuleBuffers is not { } entry)
        {
            return [];
        }
        var path = CheckpointFiles.PathInside(directory, entry.File);
        if (Check(path, entry) is { } problem)
        {
            throw new CheckpointException(problem);
        }
        using var file = SafetensorsFile.Open(path);
        var buffers = new List<ModuleBuffer>(file.Tensors.Count);
        foreach (var t in file.Tensors.Values.OrderBy(t => t.Begin))
        {
            if (!DTypes.Contains(t.DType))
            {
                throw new CheckpointException($"{path}: buffer '{t.Name}' has dtype {t.DType}; buffers are {string.Join(", ", DTypes)}.");
            }
            var data = new byte[t.End - t.Begin];
            file.ReadBytes(t.Name, data);
            buffers.Add(new ModuleBuffer(t.Name, t.DType, t.Shape, data));
        }
        return buffers;
    }

    /// <summary>What is wrong with the buffers file against its manifest entry (size, SHA-256, header), or null.</summary>
    internal static string? Check(string path, CheckpointFileEntry entry)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return $"{path} is missing (the checkpoint's module buffers).";
        }
        if (info.Length != entry.Bytes)
        {
            return $"{path} has {info.Length} bytes, the manifest says {entry.Bytes} (truncated or altered).";
        }
        using (var stream = File.OpenRead(path))
        {
            var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (actual != entry.Sha256)
            {
                return $"{path} has sha256 {actual}, the manifest says {entry.Sha256} (altered).";
            }
        }
        try
        {
            using var file = SafetensorsFile.Open(path);
        }
        catch (CheckpointException e)
        {
            return e.Message;
        }
        return null;
    }
}
