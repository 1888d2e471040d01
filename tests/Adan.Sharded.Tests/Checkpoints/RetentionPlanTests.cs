using Adan.Sharded.Checkpoints;
using Adan.TestSupport;
namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>The retention plan both catalogues and the coordinator apply, on a root laid out by hand.</summary>
public sealed class RetentionPlanTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-retention-plan-").FullName;

    [Fact]
    public void KeepsTheNewestKAndNewerUncommittedAndProtectedDirectories()
    {
        foreach (var step in new long[] { 10, 20, 30, 40 })
        {
            Commit(step);
        }
        var leftover = Open(15);
        var othersLeftover = Open(17);
        var protectedOpen = Open(25);
        var inProgress = Open(50);

        var doomed = CheckpointRetention.Plan(_root, 2, new HashSet<string> { protectedOpen }, new HashSet<string> { leftover, protectedOpen, inProgress });

        Assert.Equal([CheckpointFiles.StepDirectory(_root, 10), leftover, CheckpointFiles.StepDirectory(_root, 20)], doomed);
        Assert.DoesNotContain(inProgress, doomed);
        Assert.DoesNotContain(othersLeftover, doomed);
    }

    [Fact]
    public void WithAnOwnedSetOnlyTheOwnersCommittedCheckpointsCountAndGo()
    {
        foreach (var step in new long[] { 10, 20, 30, 40, 50 })
        {
            Commit(step);
        }
        var owned = new HashSet<string> { CheckpointFiles.StepDirectory(_root, 10), CheckpointFiles.StepDirectory(_root, 30), CheckpointFiles.StepDirectory(_root, 50) };

        var doomed = CheckpointRetention.Plan(_root, 2, owned: owned);

        // Of the owner's 10, 30, 50 the newest two stay; 20 and 40 are someone else's and neither count nor go.
        Assert.Equal([CheckpointFiles.StepDirectory(_root, 10)], doomed);
    }

    [Fact]
    public void NothingIsDeletedBeforeTheFirstCommit()
    {
        Open(1);
        Open(2);

        Assert.Empty(CheckpointRetention.Plan(_root, 1));
    }

    [Fact]
    public void KeepLastMustBePositive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => CheckpointRetention.Plan(_root, 0));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Open(long step) => Directory.CreateDirectory(CheckpointFiles.StepDirectory(_root, step)).FullName;

    private void Commit(long step)
    {
        var directory = Open(step);
        var file = CheckpointFiles.ShardFileName(0, 1);
        File.WriteAllBytes(Path.Combine(directory, file), [1, 2, 3]);
        CheckpointCommit.Commit(directory, TestManifests.Create(step, 1, new CheckpointShard(0, file, 3, new string('b', 64))));
    }
}
