using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using Adan.Coordinator.V1;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// Files planted in a checkpoint root by anyone who can write there: a link as a step directory, a FIFO, a link to
/// <c>/dev/zero</c> or an oversized file as <c>manifest.json</c>, a link to another root's checkpoint. Each is refused
/// (or ignored) naming what was refused, and the legitimate checkpoints stay intact.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed partial class LinkFollowingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AStepDirectoryPlantedAsALinkIsRefusedAndItsTargetUntouched()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 1);
        var victim = Directory.CreateDirectory(Path.Combine(c.DataDirectory, "victim")).FullName;
        await File.WriteAllTextAsync(Path.Combine(victim, "precious.txt"), "precious");
        var root = Directory.CreateDirectory(Path.Combine(c.DataDirectory, "run")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(root, "step-0000000007"), victim);

        var e = await Assert.ThrowsAsync<RpcException>(() => BeginAsync(c, "job", 7, root));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("step-0000000007", e.Status.Detail);
        Assert.Contains("symbolic link", e.Status.Detail);
        Assert.Equal(["precious.txt"], Directory.EnumerateFileSystemEntries(victim).Select(Path.GetFileName));

        var saved = await SaveAsync(c, "job", 8, root);
        Assert.Equal(CheckpointState.Committed, saved.State);
        Assert.Equal("precious", await File.ReadAllTextAsync(Path.Combine(victim, "precious.txt")));
    }

    [Fact]
    public async Task AFifoAsManifestIsRefusedAtOnceAndDoesNotStallAnotherJob()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 1);
        await c.JoinAllAsync("other", 1);
        var previous = await SaveAsync(c, "job", 1);
        var manifest = await File.ReadAllTextAsync(previous.ManifestPath);
        var open = await WriteShardAsync(c, "job", 2);
        Assert.Equal(0, MakeFifo(Path.Combine(open.Directory, "manifest.json"), Convert.ToUInt32("644", 8)));

        var commit = CommitAsync(c, "job", open);
        // Another job checkpoints meanwhile: nothing of the first job's holds a coordinator-wide lock.
        var other = await SaveAsync(c, "other", 1).WaitAsync(Bound);
        Assert.Equal(CheckpointState.Committed, other.State);
        var e = await Assert.ThrowsAsync<RpcException>(() => commit.WaitAsync(Bound));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("manifest.json", e.Status.Detail);
        Assert.Contains("not a regular file", e.Status.Detail);

        Assert.Equal(1, (await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = "job" }, c.Headers)).Checkpoint.Step);
        Assert.Equal(manifest, await File.ReadAllTextAsync(previous.ManifestPath));
    }

    [Theory]
    [InlineData("link to /dev/zero", "symbolic link")]
    [InlineData("17 MiB file", "more than the 16777216")]
    public async Task AManifestThatIsALinkOrTooLargeIsRefused(string planted, string named)
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 1);
        var previous = await SaveAsync(c, "job", 1);
        var manifest = await File.ReadAllTextAsync(previous.ManifestPath);
        var open = await WriteShardAsync(c, "job", 2);
        var path = Path.Combine(open.Directory, "manifest.json");
        if (planted.StartsWith("link", StringComparison.Ordinal))
        {
            File.CreateSymbolicLink(path, "/dev/zero");
        }
        else
        {
            using var file = File.Create(path);
            file.SetLength(17 << 20);
        }

        var e = await Assert.ThrowsAsync<RpcException>(() => CommitAsync(c, "job", open).WaitAsync(Bound));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("manifest.json", e.Status.Detail);
        Assert.Contains(named, e.Status.Detail);
        Assert.Equal(1, (await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = "job" }, c.Headers)).Checkpoint.Step);
        Assert.Equal(manifest, await File.ReadAllTextAsync(previous.ManifestPath));
    }

    [Fact]
    public async Task RetentionNeverFollowsAStepLinkToAnotherRootsCheckpoint()
    {
        await using var c = await TestCoordinator.StartAsync(keepLast: 1);
        await c.JoinAllAsync("victim", 1);
        var victim = await SaveAsync(c, "victim", 3, Path.Combine(c.DataDirectory, "victim-run"));
        var victimManifest = await File.ReadAllTextAsync(victim.ManifestPath);
        await c.JoinAllAsync("job", 1);
        var root = Directory.CreateDirectory(Path.Combine(c.DataDirectory, "run")).FullName;
        // An old-looking "checkpoint" of this root that is really the victim's: keep-last-1 would delete it first.
        Directory.CreateSymbolicLink(Path.Combine(root, "step-0000000001"), victim.Directory);

        var older = await SaveAsync(c, "job", 5, root);
        var newest = await SaveAsync(c, "job", 6, root);
        await c.WhenRetentionDone();

        Assert.Equal(victimManifest, await File.ReadAllTextAsync(victim.ManifestPath));
        Assert.True(File.Exists(Path.Combine(victim.Directory, "shard-00000-of-00001.safetensors")));
        Assert.False(Directory.Exists(older.Directory));
        Assert.True(File.Exists(newest.ManifestPath));
    }

    [Fact]
    public async Task TheDataDirectoryIsCreatedPrivateAndTheDatabaseIsOwnerOnly()
    {
        var parent = Directory.CreateTempSubdirectory("adan-private-").FullName;
        try
        {
            var data = Path.Combine(parent, "data");
            await using (var c = await TestCoordinator.StartAsync(dataDirectory: data))
            {
                await c.JoinAllAsync("job", 1);
                await SaveAsync(c, "job", 1);
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(data));
                var database = Path.Combine(data, "coordinator.db");
                foreach (var file in new[] { database, database + "-wal", database + "-shm" }.Where(File.Exists).Append(database))
                {
                    Assert.True(File.GetUnixFileMode(file) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), $"{file}: {File.GetUnixFileMode(file)}");
                }
            }
        }
        finally
        {
            Directory.Delete(parent, recursive: true);
        }
    }

    private static Task<CheckpointInfo> BeginAsync(TestCoordinator c, string job, long step, string? root) =>
        c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = job, Step = step, CheckpointRoot = root ?? "" }, c.Headers,
            deadline: DateTime.UtcNow + Bound).ResponseAsync;

    /// <summary>Begins <paramref name="step"/> of a one-rank job, writes its shard and reports it, as the worker does.</summary>
    [Fact]
    public async Task ARootSwappedForALinkAfterBeginIsNeverWrittenThrough()
    {
        await using var c = await TestCoordinator.StartAsync();
        await c.JoinAllAsync("job", 1);
        var root = Directory.CreateDirectory(Path.Combine(c.DataDirectory, "run")).FullName;
        await SaveAsync(c, "job", 1, root);
        var open = await WriteShardAsync(c, "job", 2, root);

        // Someone who can write the directory above swaps the root for a link to a victim's root that holds the same
        // step, shard for shard, still uncommitted: a commit that followed the link would commit the victim's step.
        var victim = Directory.CreateDirectory(Path.Combine(c.DataDirectory, "victim")).FullName;
        var victimStep = Path.Combine(victim, Path.GetFileName(open.Directory));
        Directory.CreateDirectory(victimStep);
        foreach (var file in Directory.EnumerateFiles(open.Directory))
        {
            File.Copy(file, Path.Combine(victimStep, Path.GetFileName(file)));
        }
        Directory.Move(root, root + ".moved");
        Directory.CreateSymbolicLink(root, victim);

        var e = await Assert.ThrowsAsync<RpcException>(() => CommitAsync(c, "job", open));
        Assert.Contains("is a symbolic link", e.Status.Detail);
        Assert.Contains(root, e.Status.Detail);
        Assert.False(File.Exists(Path.Combine(victimStep, "manifest.json")), "the commit was written through the swapped root");
        Assert.Equal(["shard-00000-of-00001.safetensors"], Directory.EnumerateFileSystemEntries(victimStep).Select(Path.GetFileName));
    }

    private static async Task<CheckpointInfo> WriteShardAsync(TestCoordinator c, string job, long step, string? root = null)
    {
        var info = await BeginAsync(c, job, step, root);
        const string file = "shard-00000-of-00001.safetensors";
        var bytes = RandomNumberGenerator.GetBytes(100);
        await File.WriteAllBytesAsync(Path.Combine(info.Directory, file), bytes);
        await c.Checkpoints.ReportShardAsync(new ReportShardRequest
        {
            JobId = job,
            CheckpointId = info.CheckpointId,
            Shard = new ShardInfo { Rank = 0, File = file, Bytes = bytes.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) },
        }, c.Headers, deadline: DateTime.UtcNow + Bound);
        return info;
    }

    private static Task<CheckpointInfo> CommitAsync(TestCoordinator c, string job, CheckpointInfo info) =>
        c.Checkpoints.CommitAsync(new CommitCheckpointRequest
        {
            JobId = job,
            CheckpointId = info.CheckpointId,
            ManifestJson = TestManifests.Create(info.Step, 1).ToJson(),
        }, c.Headers, deadline: DateTime.UtcNow + Bound).ResponseAsync;

    private static async Task<CheckpointInfo> SaveAsync(TestCoordinator c, string job, long step, string? root = null) =>
        await CommitAsync(c, job, await WriteShardAsync(c, job, step, root));

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);
}
