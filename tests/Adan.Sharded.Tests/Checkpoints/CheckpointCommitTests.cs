using Adan.Sharded.Checkpoints;
using Adan.TestSupport;
namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// The one commit path both catalogues use: the shard list is checked against the world size and the files, the
/// manifest is created atomically, and an existing manifest is never replaced.
/// </summary>
public sealed class CheckpointCommitTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("adan-commit-").FullName;

    [Fact]
    public void CommitWritesTheManifestWithShardsByRank()
    {
        var shards = WriteShards(3);
        var path = CheckpointCommit.Commit(_directory, TestManifests.Create(7, 3, [shards[2], shards[0], shards[1]]));

        Assert.Equal(Path.Combine(_directory, CheckpointManifest.FileName), path);
        var read = CheckpointManifest.Read(_directory);
        Assert.Equal(7, read.Step);
        Assert.Equal(shards, read.Shards);
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp"));
    }

    [Fact]
    public void ACommittedManifestIsNeverReplaced()
    {
        var shards = WriteShards(1);
        CheckpointCommit.Commit(_directory, TestManifests.Create(1, 1, shards));
        var before = File.ReadAllText(Path.Combine(_directory, CheckpointManifest.FileName));

        var error = Assert.Throws<CheckpointException>(() => CheckpointCommit.Commit(_directory, TestManifests.Create(2, 1, shards)));

        Assert.Contains("never overwritten", error.Message);
        Assert.Equal(before, File.ReadAllText(Path.Combine(_directory, CheckpointManifest.FileName)));
    }

    [Fact]
    public void ConcurrentCommitsOfOneDirectoryHaveExactlyOneWinner()
    {
        var shards = WriteShards(1);
        var outcomes = Enumerable.Range(0, 8).AsParallel().WithDegreeOfParallelism(8).Select(step =>
        {
            try
            {
                CheckpointCommit.Commit(_directory, TestManifests.Create(step, 1, shards));
                return true;
            }
            catch (CheckpointException)
            {
                return false;
            }
        }).ToList();

        Assert.Equal(1, outcomes.Count(won => won));
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp"));
    }

    [Theory]
    [InlineData(0, "world_size is 0")]
    [InlineData(3, "expected one for each rank 0..2")]
    public void AShardListThatDoesNotCoverTheWorldIsRefused(int worldSize, string expected)
    {
        var shards = WriteShards(2);

        var error = Assert.Throws<CheckpointException>(() => CheckpointCommit.Commit(_directory, TestManifests.Create(1, worldSize, shards)));

        Assert.Contains(expected, error.Message);
        Assert.False(CheckpointFiles.IsCommitted(_directory));
    }

    [Fact]
    public void ADuplicatedRankIsRefused()
    {
        var shards = WriteShards(2);

        var error = Assert.Throws<CheckpointException>(() => CheckpointCommit.Commit(_directory, TestManifests.Create(1, 2, shards[0], shards[0])));

        Assert.Contains("ranks [0, 0]", error.Message);
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/shard.safetensors")]
    [InlineData("..")]
    [InlineData("manifest.json")]
    [InlineData("")]
    public void AShardFileOutsideTheDirectoryIsRefused(string file)
    {
        var error = Assert.Throws<CheckpointException>(() =>
            CheckpointCommit.Commit(_directory, TestManifests.Create(1, 1, new CheckpointShard(0, file, 0, new string('0', 64)))));

        Assert.Contains("shard-NNNNN-of-NNNNN", error.Message);
        Assert.False(CheckpointFiles.IsCommitted(_directory));
    }

    [Fact]
    public void AShardOfAnotherSizeOrMissingIsRefused()
    {
        var shards = WriteShards(2);
        File.Delete(Path.Combine(_directory, shards[1].File));

        var missing = Assert.Throws<CheckpointException>(() => CheckpointCommit.Commit(_directory, TestManifests.Create(1, 2, shards)));
        var resized = Assert.Throws<CheckpointException>(() =>
            CheckpointCommit.Commit(_directory, TestManifests.Create(1, 2, shards[0] with { Bytes = 1 }, shards[1])));

        Assert.Contains("does not exist", missing.Message);
        Assert.Contains($"rank 0 reported 1", resized.Message);
        Assert.False(CheckpointFiles.IsCommitted(_directory));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private CheckpointShard[] WriteShards(int worldSize)
    {
        var shards = new CheckpointShard[worldSize];
        for (var rank = 0; rank < worldSize; rank++)
        {
            var file = CheckpointFiles.ShardFileName(rank, worldSize);
            File.WriteAllBytes(Path.Combine(_directory, file), new byte[10 + rank]);
            shards[rank] = new CheckpointShard(rank, file, 10 + rank, new string('a', 64));
        }
        return shards;
    }
}
