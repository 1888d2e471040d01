using System.Security.Cryptography;
using Adan.Sharded.Checkpoints;
using Adan.TestSupport;
namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// Keep-last-K retention of the file-system catalogue: old committed checkpoints, and uncommitted leftovers older than
/// the newest commit, are deleted in the background after a commit; the newest K and any newer uncommitted directory
/// (a save in progress) are kept.
/// </summary>
public sealed class LocalCatalogRetentionTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-retention-").FullName;

    [Fact]
    public async Task RetentionKeepsTheNewestKAndSweepsOlderLeftovers()
    {
        using var catalog = new LocalCheckpointCatalog(_root, keepLast: 2);
        var crashed = await WriteShardAsync(catalog, 15);
        foreach (var step in new long[] { 10, 20, 30 })
        {
            await CommitAsync(catalog, step);
        }
        var inProgress = await WriteShardAsync(catalog, 50);
        await CommitAsync(catalog, 40);
        await catalog.WhenRetentionDone();

        Assert.Equal([30, 40], CheckpointFiles.Committed(_root).Select(c => c.Step));
        Assert.False(Directory.Exists(crashed.Directory), "an uncommitted directory older than the newest commit is garbage");
        Assert.False(Directory.Exists(CheckpointFiles.StepDirectory(_root, 10)));
        Assert.False(Directory.Exists(CheckpointFiles.StepDirectory(_root, 20)));
        Assert.True(Directory.Exists(inProgress.Directory), "a newer uncommitted directory may be a save in progress");
        Assert.Equal(CheckpointFiles.StepDirectory(_root, 40), await catalog.LatestAsync());
    }

    [Fact]
    public async Task KeepLastZeroKeepsEverything()
    {
        using var catalog = new LocalCheckpointCatalog(_root, keepLast: 0);
        var crashed = await WriteShardAsync(catalog, 5);
        foreach (var step in new long[] { 10, 20, 30 })
        {
            await CommitAsync(catalog, step);
        }
        await catalog.WhenRetentionDone();
        Assert.Equal([10, 20, 30], CheckpointFiles.Committed(_root).Select(c => c.Step));
        Assert.True(Directory.Exists(crashed.Directory));
    }

    [Fact]
    public async Task DisposeWaitsForTheDeletions()
    {
        var catalog = new LocalCheckpointCatalog(_root, keepLast: 1);
        await CommitAsync(catalog, 1);
        await CommitAsync(catalog, 2);
        catalog.Dispose();
        Assert.Equal([2], CheckpointFiles.StepDirectories(_root).Select(c => c.Step));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static async Task<CheckpointTicket> WriteShardAsync(LocalCheckpointCatalog catalog, long step)
    {
        var ticket = await catalog.BeginAsync(step);
        await File.WriteAllBytesAsync(Path.Combine(ticket.Directory, CheckpointFiles.ShardFileName(0, 1)), new byte[4096]);
        return ticket;
    }

    private static async Task CommitAsync(LocalCheckpointCatalog catalog, long step)
    {
        var ticket = await WriteShardAsync(catalog, step);
        var shard = new CheckpointShard(0, CheckpointFiles.ShardFileName(0, 1), 4096, Convert.ToHexStringLower(SHA256.HashData(new byte[4096])));
        await catalog.CommitAsync(ticket, TestManifests.Create(step, 1, shard));
    }
}
