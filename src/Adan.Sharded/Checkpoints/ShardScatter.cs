using System.Security.Cryptography;
using Adan.Sharded.IO;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Reads a shard file once, front to back: hashes all of it and copies the byte ranges a rank needs straight into
/// their tensors. One sequential pass is what makes a load as fast as the disk; verifying first and reading the
/// slices afterwards would read every byte twice.
/// </summary>
internal static unsafe class ShardScatter
{
    /// <summary><paramref name="Bytes"/> bytes of the file at <paramref name="FileOffset"/> go to <paramref name="Destination"/>.</summary>
    public readonly record struct Copy(long FileOffset, long Bytes, IntPtr Destination);

    /// <summary>Streams the file, performing <paramref name="copies"/>, and returns the bytes read and the SHA-256 of all of them.</summary>
    /// <param name="path">The shard file.</param>
    /// <param name="copies">Non-overlapping file ranges, in any order.</param>
    /// <param name="direct">Read around the page cache: right for a shard only this process reads; a shard that several
    /// ranks of a node read (ZeRO-0, resharding) is better read through the cache they share.</param>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static (long Bytes, string Sha256) HashAndScatter(string path, IEnumerable<Copy> copies, bool direct)
    {
        var sorted = copies.Where(c => c.Bytes > 0).OrderBy(c => c.FileOffset).ToArray();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var first = 0;
        var bytes = SequentialFileReader.ForEachChunk(path, (chunk, offset) =>
        {
            hash.AppendData(chunk);
            var end = offset + chunk.Length;
            while (first < sorted.Length && sorted[first].FileOffset + sorted[first].Bytes <= offset)
            {
                first++;
            }
            for (var i = first; i < sorted.Length && sorted[i].FileOffset < end; i++)
            {
                var c = sorted[i];
                var from = Math.Max(c.FileOffset, offset);
                var to = Math.Min(c.FileOffset + c.Bytes, end);
                chunk[(int)(from - offset)..(int)(to - offset)].CopyTo(new Span<byte>((byte*)c.Destination + (from - c.FileOffset), (int)(to - from)));
            }
        }, direct);
        return (bytes, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
