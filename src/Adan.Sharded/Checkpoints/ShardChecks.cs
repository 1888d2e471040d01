using System.Security.Cryptography;
using Adan.Sharded.Flat;
using Adan.Sharded.IO;
using Adan.Sharded.Optim;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Checkpoints;

/// <summary>Checks one shard file against its manifest entry: existence, size, SHA-256 and tensor shapes.</summary>
internal static class ShardChecks
{
    /// <summary>What is wrong with the shard, or null when it matches.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="shard">The manifest's entry.</param>
    /// <param name="checksum">Also hash the file (a full sequential read).</param>
    /// <param name="expected">The tensors the shard must hold, with their dtypes and elements (<see cref="Expected"/>).</param>
    public static (ShardProblem Kind, string? Message) Check(string directory, CheckpointShard shard, bool checksum,
        IReadOnlyList<(string Name, string DType, long Numel)> expected)
    {
        string path;
        try
        {
            path = CheckpointFiles.PathInside(directory, shard.File);
        }
        catch (CheckpointException e)
        {
            return (ShardProblem.Missing, e.Message);
        }
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return (ShardProblem.Missing, $"{path} is missing (rank {shard.Rank}'s shard).");
        }
        if (info.Length != shard.Bytes)
        {
            return (ShardProblem.Size, $"{path} has {info.Length} bytes, the manifest says {shard.Bytes} (truncated or altered).");
        }
        if (checksum)
        {
            var actual = Sha256(path);
            if (actual != shard.Sha256)
            {
                return (ShardProblem.Checksum, $"{path} has sha256 {actual}, the manifest says {shard.Sha256} (altered).");
            }
        }
        try
        {
            using var file = SafetensorsFile.Open(path);
            foreach (var (name, dtype, numel) in expected)
            {
                var t = file.Tensor(name);
                if (t.DType != dtype || t.Numel != numel)
                {
                    return (ShardProblem.Header, $"{path}: tensor '{name}' is {t.DType} of {t.Numel} elements, expected {dtype} of {numel}.");
                }
            }
        }
        catch (CheckpointException e)
        {
            return (ShardProblem.Header, e.Message);
        }
        return (ShardProblem.None, null);
    }

    /// <summary>
    /// The tensors of rank <paramref name="rank"/>'s shard as the manifest describes them: the parameters (F32, S), then each
    /// state tensor in its dtype, S entries, S / 256 block scales (<c>.absmax</c>), or the small parameters' elements in
    /// the shard's range (<c>.small</c>).
    /// </summary>
    public static IReadOnlyList<(string Name, string DType, long Numel)> Expected(CheckpointManifest manifest, FlatLayout layout, int rank)
    {
        var state = manifest.Optimizer.State ?? [];
        var small = new SmallParameterIndex(layout);
        var start = layout.ShardStart(rank);
        return [.. manifest.Tensors.Select(name => state.FirstOrDefault(t => t.Name == name) is { } t
            ? (name, t.Dtype, ExtentOf(name) switch
            {
                StateExtent.Block => layout.ShardSize / StateCodes.BlockSize,
                StateExtent.Small => small.Before(start + layout.ShardSize) - small.Before(start),
                _ => layout.ShardSize,
            })
            : (name, "F32", layout.ShardSize))];
    }

    /// <summary>What a stored state tensor's entries stand for, by its name's suffix.</summary>
    public static StateExtent ExtentOf(string name) =>
        name.EndsWith(LowPrecisionState.ScaleSuffix, StringComparison.Ordinal) ? StateExtent.Block
        : name.EndsWith(LowPrecisionState.SmallSuffix, StringComparison.Ordinal) ? StateExtent.Small
        : StateExtent.Element;

    /// <summary>SHA-256 of a file as lowercase hex; the hashing of each chunk overlaps the reading of the next.</summary>
    public static string Sha256(string path)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        SequentialFileReader.ForEachChunk(path, (chunk, _) => hash.AppendData(chunk));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>A generic message for a problem another rank found (the codes travel through one all-reduce).</summary>
    public static string Describe(ShardProblem kind, string path) => kind switch
    {
        ShardProblem.Missing => $"{path} is missing.",
        ShardProblem.Size => $"{path} has another size than the manifest says (truncated or altered).",
        ShardProblem.Checksum => $"{path} has another sha256 than the manifest says (altered).",
        _ => $"{path} is not a valid shard (header or tensor shapes differ from the manifest).",
    };
}

/// <summary>What is wrong with a shard file; ordered so that an all-reduce with max keeps the most basic problem last.</summary>
internal enum ShardProblem
{
    None = 0,
    Header = 1,
    Checksum = 2,
    Size = 3,
    Missing = 4,
}
