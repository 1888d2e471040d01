using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.IO;
using Adan.TestSupport;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// What someone who can write to a shared checkpoint root could plant for a job to write or delete through: a link or
/// a second hard link as a shard file, a link as a step directory or as <c>.adan-lock</c>, a FIFO, a link at the name an
/// export would use. Each is refused naming the file, and the file it pointed at is untouched.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed partial class PlantedLinkTests : IDisposable
{
    private const string Precious = "someone's precious file\n";
    private readonly string _scratch = Directory.CreateTempSubdirectory("adan-planted-").FullName;

    private string Root => Path.Combine(_scratch, "checkpoints");

    private string Victim => Path.Combine(_scratch, "victim.txt");

    public PlantedLinkTests()
    {
        Directory.CreateDirectory(Root);
        File.WriteAllText(Victim, Precious);
    }

    [Theory]
    [InlineData("symbolic")]
    [InlineData("hard")]
    public void AShardFilePlantedAsALinkIsNotWrittenThrough(string kind)
    {
        var step = Directory.CreateDirectory(CheckpointFiles.StepDirectory(Root, 1)).FullName;
        var shard = Path.Combine(step, CheckpointFiles.ShardFileName(0, 1));
        if (kind == "symbolic")
        {
            File.CreateSymbolicLink(shard, Victim);
        }
        else
        {
            Assert.Equal(0, Link(Victim, shard));
        }

        var e = Assert.ThrowsAny<IOException>(() => new HashingFileWriter(shard).Dispose());
        Assert.Contains(shard, e.Message);
        Assert.Contains(kind == "symbolic" ? "symbolic link" : "2 hard links", e.Message);
        Assert.Equal(Precious, File.ReadAllText(Victim));
    }

    [Fact]
    public async Task AStepDirectoryPlantedAsALinkIsRefusedByTheCatalogueAndTheShardWriter()
    {
        var elsewhere = Directory.CreateDirectory(Path.Combine(_scratch, "elsewhere")).FullName;
        var step = CheckpointFiles.StepDirectory(Root, 2);
        Directory.CreateSymbolicLink(step, elsewhere);
        using var catalog = new LocalCheckpointCatalog(Root);

        var e = await Assert.ThrowsAsync<CheckpointException>(() => catalog.BeginAsync(2));
        Assert.Contains(step, e.Message);
        Assert.Contains("symbolic link", e.Message);
        var write = Assert.ThrowsAny<IOException>(() => new HashingFileWriter(Path.Combine(step, CheckpointFiles.ShardFileName(0, 1))).Dispose());
        Assert.Contains("symbolic link", write.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));

        // The job itself saves the next step as usual.
        await CommitAsync(catalog, 3);
        Assert.Equal(CheckpointFiles.StepDirectory(Root, 3), await catalog.LatestAsync());
    }

    [Theory]
    [InlineData("symbolic link")]
    [InlineData("hard link")]
    [InlineData("fifo")]
    [InlineData("other owner")]
    public void ALockFileThatIsNotThisUsersOwnRegularFileIsRefused(string planted)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // flock is used on Linux only.
        }
        var path = Path.Combine(Root, CheckpointRootLock.FileName);
        string named;
        switch (planted)
        {
            case "symbolic link":
                File.CreateSymbolicLink(path, Victim);
                named = "symbolic link";
                break;
            case "hard link":
                Assert.Equal(0, Link(Victim, path));
                named = "2 hard links";
                break;
            case "fifo":
                Assert.Equal(0, MakeFifo(path, Convert.ToUInt32("644", 8)));
                named = "not a regular file";
                break;
            default:
                if (Environment.UserName != "root")
                {
                    return; // only root can give a file to another user
                }
                File.WriteAllText(path, "");
                Assert.Equal(0, ChangeOwner(path, 4242, 4242));
                named = "owned by uid 4242";
                break;
        }

        var e = Assert.Throws<CheckpointException>(() => CheckpointRootLock.Acquire(Root, "job").Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains(named, e.Message);
        Assert.Equal(Precious, File.ReadAllText(Victim));
    }

    [Fact]
    public async Task RetentionNeverDeletesThroughAStepLink()
    {
        var theirs = Directory.CreateDirectory(Path.Combine(_scratch, "their-checkpoint")).FullName;
        File.WriteAllText(Path.Combine(theirs, CheckpointManifest.FileName), Precious);
        Directory.CreateSymbolicLink(CheckpointFiles.StepDirectory(Root, 1), theirs);
        using (var catalog = new LocalCheckpointCatalog(Root, keepLast: 1))
        {
            await CommitAsync(catalog, 5);
            await CommitAsync(catalog, 6);
        }
        Assert.Equal(Precious, File.ReadAllText(Path.Combine(theirs, CheckpointManifest.FileName)));
        Assert.Equal([6], CheckpointFiles.Committed(Root).Select(c => c.Step));

        // Asked directly, the deleter refuses the link instead of emptying its target.
        var e = Assert.ThrowsAny<IOException>(() => NoFollowFiles.DeleteDirectory(CheckpointFiles.StepDirectory(Root, 1), CheckpointManifest.FileName));
        Assert.Contains("refusing to delete through it", e.Message);
        Assert.Equal(Precious, File.ReadAllText(Path.Combine(theirs, CheckpointManifest.FileName)));
    }

    [Fact]
    public void AManifestThatIsAFifoIsRefusedWithoutBlocking()
    {
        var step = Directory.CreateDirectory(CheckpointFiles.StepDirectory(Root, 1)).FullName;
        Assert.Equal(0, MakeFifo(Path.Combine(step, CheckpointManifest.FileName), Convert.ToUInt32("644", 8)));
        var e = Assert.Throws<CheckpointException>(() => CheckpointManifest.Read(step));
        Assert.Contains("not a regular file", e.Message);
    }

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static async Task CommitAsync(LocalCheckpointCatalog catalog, long step)
    {
        var ticket = await catalog.BeginAsync(step);
        var bytes = new byte[4096];
        using (var writer = new HashingFileWriter(Path.Combine(ticket.Directory, CheckpointFiles.ShardFileName(0, 1))))
        {
            writer.Write(bytes);
            writer.Complete();
        }
        var shard = new CheckpointShard(0, CheckpointFiles.ShardFileName(0, 1), bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        await catalog.CommitAsync(ticket, TestManifests.Create(step, 1, shard));
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string name);

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChangeOwner(string path, int owner, int group);
}
