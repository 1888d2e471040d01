using Adan.Sharded.Checkpoints;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>The advisory lock that keeps a second job out of a checkpoint root while the first one lives.</summary>
public sealed class CheckpointRootLockTests : IDisposable
{
    private readonly string _root = Path.Combine(Directory.CreateTempSubdirectory("adan-root-lock-").FullName, "checkpoints");

    [Fact]
    public void ASecondJobIsRefusedNamingTheHolderUntilTheFirstReleases()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // flock is used on Linux only.
        }
        using (CheckpointRootLock.Acquire(_root, "job-a"))
        {
            var error = Assert.Throws<CheckpointException>(() => CheckpointRootLock.Acquire(_root, "job-b"));

            Assert.Contains($"{_root} is in use by job job-a on host {Environment.MachineName} (pid {Environment.ProcessId}", error.Message);
            Assert.Contains("another checkpoint_dir", error.Message);
            Assert.DoesNotContain('\n', error.Message);
        }

        string path;
        using (var second = CheckpointRootLock.Acquire(_root, "job-b"))
        {
            path = second.Path;
        }
        Assert.StartsWith("job job-b on host", File.ReadAllText(path));
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_root)!, recursive: true);
}
