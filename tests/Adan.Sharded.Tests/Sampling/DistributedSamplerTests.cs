using Adan.Sharded.Sampling;

namespace Adan.Sharded.Tests.Sampling;

public class DistributedSamplerTests
{
    private static List<long>[] Epoch(long n, int world, int batch, TailPolicy tail, long epoch, ulong seed = 42)
    {
        var result = new List<long>[world];
        for (var r = 0; r < world; r++)
        {
            var s = new DistributedSampler(n, r, world, batch, seed, tail);
            result[r] = [];
            for (var b = 0; b < s.BatchesPerEpoch; b++)
            {
                result[r].AddRange(s.BatchIndices(epoch, b).ToArray());
            }
        }
        return result;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void RanksCoverEachEpochExactlyOnce(int world)
    {
        const long n = 96;
        for (var epoch = 0; epoch < 3; epoch++)
        {
            var perRank = Epoch(n, world, 4, TailPolicy.Drop, epoch);
            var all = perRank.SelectMany(x => x).ToList();
            Assert.Equal(n, all.Count);
            Assert.Equal(Enumerable.Range(0, (int)n).Select(i => (long)i), all.Order());
            Assert.All(perRank, r => Assert.Equal(n / world, r.Count));
        }
    }

    [Fact]
    public void EpochsArePermutedDifferentlyButReproducibly()
    {
        var e0 = Epoch(50, 2, 5, TailPolicy.Drop, 0)[0];
        var e1 = Epoch(50, 2, 5, TailPolicy.Drop, 1)[0];
        Assert.NotEqual(e0, e1);
        Assert.Equal(e0, Epoch(50, 2, 5, TailPolicy.Drop, 0)[0]);
        Assert.NotEqual(e0, Epoch(50, 2, 5, TailPolicy.Drop, 0, seed: 43)[0]);
    }

    [Fact]
    public void DropGivesEveryRankTheSameWholeBatches()
    {
        // 103 samples, 4 ranks, batch 5: 25 per rank, 5 batches each; 3 samples dropped.
        var perRank = Epoch(103, 4, 5, TailPolicy.Drop, 0);
        Assert.All(perRank, r => Assert.Equal(25, r.Count));
        Assert.Equal(100, perRank.SelectMany(x => x).Distinct().Count());
    }

    [Fact]
    public void PadSeesEverySampleAndKeepsRanksEqual()
    {
        // 103 samples, 4 ranks, batch 5: 26 per rank, 6 batches (the last of 1) each.
        var perRank = Epoch(103, 4, 5, TailPolicy.Pad, 0);
        Assert.All(perRank, r => Assert.Equal(26, r.Count));
        var all = perRank.SelectMany(x => x).ToList();
        Assert.Equal(103, all.Distinct().Count());
        Assert.Equal(104, all.Count);
    }

    [Fact]
    public void PositionSavesAndRestores()
    {
        var a = new DistributedSampler(40, 1, 2, 4, 7);
        for (var i = 0; i < 7; i++)
        {
            a.Next(out _);
        }
        var saved = a.Position;
        Assert.Equal(new SamplerPosition(1, 2), saved);
        var expected = a.Next(out var from).ToArray();
        Assert.Equal(saved, from);
        var b = new DistributedSampler(40, 1, 2, 4, 7);
        b.Restore(saved);
        Assert.Equal(expected, b.Next(out _).ToArray());
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        Assert.Contains("rank", Assert.Throws<ArgumentOutOfRangeException>(() => new DistributedSampler(10, 2, 2, 1, 0)).Message);
        Assert.Contains("no whole batch", Assert.Throws<ArgumentException>(() => new DistributedSampler(10, 0, 2, 8, 0)).Message);
        var s = new DistributedSampler(10, 0, 1, 2, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Restore(new SamplerPosition(0, 6)));
    }
}
