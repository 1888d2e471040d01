using Adan.Coordinator.Domain;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>The coordinator creates checkpoint directories only under its data directory and its --checkpoint-root directories.</summary>
public sealed class ConfinementTests
{
    [Fact]
    public async Task ARootOutsideThePermittedDirectoriesIsRefusedNamingThePath()
    {
        var outside = Directory.CreateTempSubdirectory("adan-outside-").FullName;
        try
        {
            await using var c = await TestCoordinator.StartAsync();
            await c.JoinAllAsync("job", 1);
            foreach (var root in new[] { outside, Path.Combine(c.DataDirectory, "..", Path.GetFileName(outside)), "/etc" })
            {
                var e = await Assert.ThrowsAsync<RpcException>(async () =>
                    await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "job", Step = 1, CheckpointRoot = root }, c.Headers));
                Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
                Assert.Contains($"'{root}'", e.Status.Detail);
                Assert.Contains("--checkpoint-root", e.Status.Detail);
                // The permitted roots are not disclosed: the refusal names only what was asked for.
                Assert.DoesNotContain(PathConfinement.Resolve(c.DataDirectory), e.Status.Detail.Replace(root, "", StringComparison.Ordinal));
            }
            Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task ALinkInsideTheDataDirectoryDoesNotLeadOut()
    {
        var outside = Directory.CreateTempSubdirectory("adan-outside-").FullName;
        try
        {
            await using var c = await TestCoordinator.StartAsync();
            await c.JoinAllAsync("job", 1);
            var link = Path.Combine(c.DataDirectory, "escape");
            Directory.CreateSymbolicLink(link, outside);
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
                await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "job", Step = 1, CheckpointRoot = Path.Combine(link, "run") }, c.Headers));
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task EveryGivenCheckpointRootAndTheDataDirectoryArePermitted()
    {
        var first = Directory.CreateTempSubdirectory("adan-root1-").FullName;
        var second = Directory.CreateTempSubdirectory("adan-root2-").FullName;
        try
        {
            await using var c = await TestCoordinator.StartAsync(checkpointRoots: [first, second]);
            await c.JoinAllAsync("job", 1);
            var byDefault = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "job", Step = 1 }, c.Headers);
            Assert.StartsWith(first + "/job/", byDefault.Directory);
            var inSecond = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "job", Step = 2, CheckpointRoot = Path.Combine(second, "run") }, c.Headers);
            Assert.StartsWith(second + "/run/", inSecond.Directory);
            var inData = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "job", Step = 3, CheckpointRoot = Path.Combine(c.DataDirectory, "run") }, c.Headers);
            Assert.True(Directory.Exists(inData.Directory));
        }
        finally
        {
            Directory.Delete(first, recursive: true);
            Directory.Delete(second, recursive: true);
        }
    }
}
