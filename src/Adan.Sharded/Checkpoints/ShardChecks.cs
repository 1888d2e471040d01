using System.Security.Cryptography;
using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>Checks one shard file against its manifest entry: existence, size, SHA-256 and tensor shapes.</summary>
internal static class ShardChecks
{
    /// <summary>What is wrong with the shard, or null when it matches.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="shard">The manifest's entry.</param>
    /// <param name="checksum">Also hash the file (a full sequential read).</param>
    /// <param name="expectedNumel">Elements every tensor of the shard must have (the old shard size).</param>
    /// <param name="tensorNames">The tensors the shard must hold.</param>
    public static (ShardProblem Kind, string? Message) Check(string directory, CheckpointShard shard, bool checksum, long expectedNumel,
        IReadOnlyList<string> tensorNames)
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
            foreach (var name in tensorNames)
            {
                var t = file.Tensor(name);
                if (t.DType != "F32" || t.Numel != expectedNumel)
                {
                    return (ShardProblem.Header, $"{path}: tensor '{name}' is {t.DType} of {t.Numel} elements, expected F32 of {expectedNumel}.");
                }
            }
        }
        catch (CheckpointException e)
        {
            return (ShardProblem.Header, e.Message);
        }
        return (ShardProblem.None, null);
    }

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
