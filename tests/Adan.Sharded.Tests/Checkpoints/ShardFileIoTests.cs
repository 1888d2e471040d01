using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.IO;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// The checkpoint file I/O under the shard format: the direct-I/O writer keeps every byte and reports the SHA-256 of
/// exactly what is on disk, whatever the sizes and however they cross the staging slots; the pipelined reader hashes
/// and scatters the same bytes back. Run on the temp directory (direct I/O on most file systems) and on /dev/shm
/// (tmpfs: buffered fallback where it refuses O_DIRECT).
/// </summary>
public sealed unsafe class ShardFileIoTests : IDisposable
{
    private const int Slot = StagingRings.SlotBytes;

    private readonly List<string> _directories = [];

    public static TheoryData<long> Sizes => [0, 1, 4095, 4096, 4097, Slot - 1, Slot, Slot + 1, StagingRings.SlotCount * Slot * 2L + 12345];

    public static TheoryData<string> Places => OperatingSystem.IsLinux() && Directory.Exists("/dev/shm") ? ["temp", "shm"] : ["temp"];

    [Theory]
    [MemberData(nameof(Sizes))]
    public void TheWriterKeepsEveryByteAndHashesWhatIsOnDisk(long size)
    {
        foreach (var place in Places)
        {
            var path = Path.Combine(Scratch(place), "file.bin");
            var data = Bytes(size, seed: (int)size);
            (long Bytes, string Sha256) written;
            using (var writer = new HashingFileWriter(path))
            {
                // A small managed header, then native memory in pieces that do not line up with the slots.
                var header = (int)Math.Min(size, 13);
                writer.Write(data.AsSpan(0, header));
                fixed (byte* p = data)
                {
                    for (long at = header; at < size;)
                    {
                        var n = Math.Min(size - at, 3 * Slot / 2 + 7);
                        writer.Write((IntPtr)(p + at), n);
                        at += n;
                    }
                }
                written = writer.Complete();
            }
            var onDisk = File.ReadAllBytes(path);
            Assert.Equal(size, written.Bytes);
            Assert.Equal(size, onDisk.LongLength);
            Assert.True(data.AsSpan().SequenceEqual(onDisk), $"{place}: the file differs from what was written");
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(onDisk)), written.Sha256);
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void TheReaderHashesTheWholeFile(long size)
    {
        foreach (var place in Places)
        {
            var path = Path.Combine(Scratch(place), "file.bin");
            var data = Bytes(size, seed: 7);
            File.WriteAllBytes(path, data);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), ShardChecks.Sha256(path));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ScatterCopiesRangesAcrossSlotBoundariesInAnyOrder(bool direct)
    {
        var size = 2L * StagingRings.SlotCount * Slot + 999;
        var data = Bytes(size, seed: 3);
        var path = Path.Combine(Scratch("temp"), "shard.bin");
        File.WriteAllBytes(path, data);
        (long Offset, int Length)[] ranges = [(Slot - 10, 20), (5, 1), (3L * Slot + 1, 2 * Slot + 3), (size - 7, 7), (Slot + 100, 0), (2L * Slot, 4096)];
        var destinations = ranges.Select(r => (IntPtr)NativeMemory.Alloc((nuint)Math.Max(1, r.Length))).ToArray();
        try
        {
            var copies = ranges.Select((r, i) => new ShardScatter.Copy(r.Offset, r.Length, destinations[i])).Reverse();
            var (bytes, sha256) = ShardScatter.HashAndScatter(path, copies, direct);
            Assert.Equal(size, bytes);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), sha256);
            for (var i = 0; i < ranges.Length; i++)
            {
                var expected = data.AsSpan((int)ranges[i].Offset, ranges[i].Length);
                Assert.True(expected.SequenceEqual(new ReadOnlySpan<byte>((void*)destinations[i], ranges[i].Length)), $"range {i} was not copied");
            }
        }
        finally
        {
            foreach (var d in destinations)
            {
                NativeMemory.Free((void*)d);
            }
        }
    }

    [Fact]
    public void AWriterRefusesWritesAfterCompleteOrDispose()
    {
        var path = Path.Combine(Scratch("temp"), "file.bin");
        var writer = new HashingFileWriter(path);
        writer.Write([1, 2, 3]);
        writer.Complete();
        Assert.Throws<InvalidOperationException>(() => writer.Write([4]));
        writer.Dispose();
        writer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => writer.Write([5]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
    }

    [Fact]
    public void AFailingDeviceFailsTheWriterWithTheFileNamedAndNeverHangs()
    {
        if (!File.Exists("/dev/full"))
        {
            return;
        }
        // /dev/full fails every write (ENOSPC): the error comes from the writer thread, several slots in.
        var data = Bytes(3L * StagingRings.SlotCount * Slot, seed: 1);
        using var writer = new HashingFileWriter("/dev/full");
        var e = Assert.ThrowsAny<IOException>(() =>
        {
            writer.Write(data);
            writer.Complete();
        });
        Assert.Contains("/dev/full", e.Message);
        Assert.Contains("cannot write", e.Message);
    }

    [Fact]
    public void AWriterThatCannotCreateItsFileNamesIt()
    {
        var path = Path.Combine(Scratch("temp"), "no-such-directory", "file.bin");
        var e = Assert.ThrowsAny<IOException>(() => new HashingFileWriter(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AMissingFileIsNamedByTheReader()
    {
        var path = Path.Combine(Scratch("temp"), "absent.bin");
        var e = Assert.ThrowsAny<IOException>(() => ShardChecks.Sha256(path));
        Assert.Contains(path, e.Message);
    }

    public void Dispose()
    {
        foreach (var d in _directories)
        {
            Directory.Delete(d, recursive: true);
        }
    }

    private string Scratch(string place)
    {
        var directory = place == "shm"
            ? Directory.CreateDirectory(Path.Combine("/dev/shm", $"adan-io-{Guid.NewGuid():N}")).FullName
            : Directory.CreateTempSubdirectory("adan-io-").FullName;
        _directories.Add(directory);
        return directory;
    }

    private static byte[] Bytes(long size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }
}
