using Adan.Sharded.Checkpoints;
using Adan.Sharded.Flat;
using Adan.TestSupport;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// Rank 0 resolves what to resume and every rank resumes exactly that, even when the ranks' own listings of the
/// checkpoint directory differ (per-node or lagging storage); a rank that cannot read rank 0's choice fails every rank
/// with an error that names it, instead of a silent divergence or a hang.
/// </summary>
public class ResumeAgreementTests
{
    // A valid one-rank manifest (the reader validates it); the shard file itself is never opened here.
    private static CheckpointManifest Manifest(long step) =>
        TestManifests.Create(step, 1, new CheckpointShard(0, CheckpointFiles.ShardFileName(0, 1), 4, new string('a', 64)));

    /// <summary>A checkpoint root holding committed checkpoints of <paramref name="steps"/>.</summary>
    private static string Root(string parent, string name, params long[] steps)
    {
        var root = Path.Combine(parent, name);
        foreach (var step in steps)
        {
            var directory = CheckpointFiles.StepDirectory(root, step);
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, CheckpointManifest.FileName), Manifest(step).ToJson());
        }
        return root;
    }

    private static string? Latest(string root) => CheckpointFiles.Committed(root) is { Count: > 0 } c ? c[^1].Directory : null;

    [Fact]
    public void EveryRankResumesRankZerosChoiceWhateverItsOwnListingSays()
    {
        using var temp = TestFiles.CreateTempDirectory();
        // Rank 0 sees steps 5 and 10; ranks 1 and 2 list a lagging copy that has only step 5 (or nothing yet).
        var listings = new[] { Root(temp.Path, "rank0", 5, 10), Root(temp.Path, "rank1", 5), Root(temp.Path, "rank2") };
        var resolvedBy = new bool[3];
        var outcomes = ThreadCollective.Run(3, collective => ResumeAgreement.Agree(collective, () =>
        {
            resolvedBy[collective.Rank] = true;
            return Latest(listings[collective.Rank]);
        }, CheckpointManifest.Read));

        Assert.Equal([true, false, false], resolvedBy);
        var expected = CheckpointFiles.StepDirectory(listings[0], 10);
        Assert.All(outcomes, o =>
        {
            Assert.Null(o.Error);
            Assert.Equal(expected, o.Result!.Value.Directory);
            Assert.Equal(10, o.Result!.Value.Manifest.Step);
        });
    }

    [Fact]
    public void NothingToResumeOnRankZeroIsAFreshStartOnEveryRank()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var listings = new[] { Root(temp.Path, "rank0"), Root(temp.Path, "rank1", 5) };
        var outcomes = ThreadCollective.Run(2, collective => ResumeAgreement.Agree(collective, () => Latest(listings[collective.Rank]),
            CheckpointManifest.Read));
        Assert.All(outcomes, o =>
        {
            Assert.Null(o.Error);
            Assert.Null(o.Result);
        });
    }

    [Fact]
    public void ARankThatCannotReadTheChosenCheckpointFailsEveryRankAndIsNamed()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var root = Root(temp.Path, "shared", 5, 10);
        // Rank 1's node does not have the checkpoint (local storage); rank 2's has another run's step there.
        Func<string, CheckpointManifest>[] readers =
        [
            CheckpointManifest.Read,
            path => throw new CheckpointException($"{path}/manifest.json does not exist: the checkpoint was never committed."),
            _ => Manifest(4),
        ];
        var outcomes = ThreadCollective.Run(3, collective => ResumeAgreement.Agree(collective, () => Latest(root), readers[collective.Rank]));

        var errors = outcomes.Select(o => Assert.IsType<CheckpointException>(o.Error).Message).ToArray();
        var chosen = CheckpointFiles.StepDirectory(root, 10);
        Assert.StartsWith($"rank(s) 1, 2 cannot read checkpoint {chosen} (step 10), which rank 0 chose to resume from (their own error says why)", errors[0]);
        Assert.StartsWith($"rank 1 cannot read checkpoint {chosen} (step 10), which rank 0 chose to resume from: {chosen}/manifest.json does not exist", errors[1]);
        Assert.StartsWith($"rank 2 cannot read checkpoint {chosen} (step 10), which rank 0 chose to resume from: its manifest there is of step 4", errors[2]);
        Assert.All(errors, e => Assert.Contains("--set resume=PATH", e));
    }

    [Fact]
    public void RankZerosResolutionErrorReachesEveryRank()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var missing = Path.Combine(temp.Path, "nowhere");
        var outcomes = ThreadCollective.Run(2, collective => ResumeAgreement.Agree(collective, () => CheckpointFiles.Resolve(missing),
            CheckpointManifest.Read));
        Assert.All(outcomes, o => Assert.Equal($"{missing} does not exist.", Assert.IsType<CheckpointException>(o.Error).Message));
    }
}
