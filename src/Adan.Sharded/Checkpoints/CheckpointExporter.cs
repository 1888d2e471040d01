using System.Runtime.InteropServices;
using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Writes the model of a sharded checkpoint as one plain safetensors file: the parameters under their names and real
/// shapes from the layout, padding dropped, then the buffers file's tensors (module buffers such as BatchNorm running
/// statistics, format version 2, and frozen parameters),
/// so the file is the model's whole <c>state_dict</c> and reproduces its eval-mode outputs; loadable by the Python
/// <c>safetensors</c> package (and so by PyTorch's <c>load_state_dict</c>). The weights are streamed shard slice by
/// shard slice through one buffer.
/// </summary>
public static class CheckpointExporter
{
    private const int BufferFloats = 1 << 20;

    /// <summary>Verifies the checkpoint, then writes <paramref name="outputPath"/> atomically (temp file, fsync, rename).</summary>
    /// <param name="path">A checkpoint directory, or a root: its newest committed checkpoint.</param>
    /// <param name="outputPath">The consolidated file.</param>
    /// <returns>The verified checkpoint and the output's size and SHA-256.</returns>
    /// <exception cref="CheckpointException">The checkpoint is not complete and valid; nothing is written.</exception>
    public static (CheckpointVerification Checkpoint, long Bytes, string Sha256) Export(string path, string outputPath)
    {
        var verification = CheckpointVerifier.Verify(path);
        if (verification.FirstProblem is { } problem)
        {
            throw new CheckpointException(problem);
        }
        var manifest = verification.Manifest;
        var layout = manifest.ReadLayout(Path.Combine(verification.Directory, CheckpointManifest.FileName));
        var target = Path.GetFullPath(outputPath);
        if (string.Equals(Path.GetDirectoryName(target), verification.Directory, StringComparison.Ordinal))
        {
            throw new CheckpointException($"{target} is inside the checkpoint {verification.Directory}; write the export elsewhere, a checkpoint's files are never replaced.");
        }
        var buffers = ModuleBuffersFile.Read(verification.Directory, manifest);
        if (buffers.FirstOrDefault(b => layout.Entries.Any(e => e.Name == b.Name)) is { } clash)
        {
            throw new CheckpointException($"{verification.Directory}: '{clash.Name}' is both a parameter and a module buffer.");
        }
        // An unpredictable name, created exclusively: in a directory others can write, a name known in advance could
        // be planted as a link to a file of the user's, which the export would then overwrite.
        var temp = Path.Combine(Path.GetDirectoryName(target)!,
            $".{Path.GetFileName(target)}.{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16))}.tmp");
        var files = manifest.Shards.Select(s => SafetensorsFile.Open(CheckpointFiles.PathInside(verification.Directory, s.File))).ToArray();
        var buffer = new float[BufferFloats];
        (long Bytes, string Sha256) written;
        try
        {
            using (var writer = new HashingFileWriter(temp, exclusive: true))
            {
                writer.Write(SafetensorsHeader.For(layout.Entries.Select(e => (e.Name, "F32", e.Shape)).Concat(buffers.Select(b => (b.Name, b.DType, b.Shape))),
                    new Dictionary<string, string> { ["format"] = "pt", ["adan.step"] = manifest.Step.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
                foreach (var entry in layout.Entries)
                {
                    for (var at = entry.Offset; at < entry.End;)
                    {
                        var shard = (int)(at / layout.ShardSize);
                        var count = (int)Math.Min(Math.Min(entry.End - at, (shard + 1) * layout.ShardSize - at), BufferFloats);
                        files[shard].ReadFloats("param", at - shard * layout.ShardSize, buffer.AsSpan(0, count));
                        writer.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, count)));
                        at += count;
                    }
                }
                foreach (var b in buffers)
                {
                    writer.Write(b.Data);
                }
                written = writer.Complete();
            }
            File.Move(temp, target, overwrite: true);
            AtomicFile.SyncDirectory(Path.GetDirectoryName(target)!);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        finally
        {
            foreach (var f in files)
            {
                f.Dispose();
            }
        }
        return (verification, written.Bytes, written.Sha256);
    }
}
