using Adan.Sharded.Checkpoints;
using Adan.Sharded.Flat;
using Piece = Adan.Sharded.Checkpoints.ReshardMap.Piece;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// The resharding map alone, on layouts built by hand: which old shard and offset every parameter element of a new
/// range comes from. Exact integer results, no tolerance.
/// </summary>
public sealed class ReshardMapTests
{
    /// <summary>Sizes chosen so that, at alignment 16, parameters straddle shard boundaries for most W in 1..8 and
    /// every kind of padding occurs: gaps after 63, 330, 1, 25 and 17 elements, and a tail.</summary>
    private static readonly (string Name, long[] Shape)[] s_parameters =
    [
        ("embed", [7, 9]), ("w", [33, 10]), ("b", [1]), ("g", [5, 5]), ("h", [16]), ("tail", [17]),
    ];

    public static TheoryData<int, int> WorldSizePairs()
    {
        var pairs = new TheoryData<int, int>();
        for (var saved = 1; saved <= 8; saved++)
        {
            for (var loaded = 1; loaded <= 8; loaded++)
            {
                pairs.Add(saved, loaded);
            }
        }
        return pairs;
    }

    [Theory]
    [MemberData(nameof(WorldSizePairs))]
    public void EveryNewShardIsCoveredOnceFromInsideTheOldShards(int savedWorldSize, int loadedWorldSize)
    {
        var old = FlatLayout.Build(s_parameters, savedWorldSize);
        AssertMapsEveryShard(old, old.ForWorldSize(loadedWorldSize));
    }

    [Fact]
    public void AnotherAlignmentMapsThroughEachLayoutsOwnOffsets()
    {
        var old = FlatLayout.Build(s_parameters, 3, alignment: 4);
        AssertMapsEveryShard(old, FlatLayout.Build(s_parameters, 5, alignment: 32));
        AssertMapsEveryShard(FlatLayout.Build(s_parameters, 5, alignment: 32), old);
    }

    [Fact]
    public void AParameterStraddlingAnOldShardBoundarySplitsIntoOnePiecePerShard()
    {
        // Alignment 16, W = 2: a [0, 5), b [16, 56), c [64, 67), total 96, old shards of 48. b crosses 48.
        var old = FlatLayout.Build([("a", [5L]), ("b", [40L]), ("c", [3L])], 2);
        var merged = old.ForWorldSize(1);
        Assert.Equal(96, old.TotalNumel);
        Assert.Equal(
            [new Piece(0, 0, 0, 5), new Piece(0, 16, 16, 32), new Piece(1, 0, 48, 8), new Piece(1, 16, 64, 3)],
            ReshardMap.Pieces(merged, old, 0, merged.ShardSize));
    }

    [Fact]
    public void ANewShardBoundaryInsideAParameterSplitsItBetweenTheNewRanks()
    {
        // Alignment 16, W = 1 → 2 (shards of 48): b [16, 56) goes 32 elements to rank 0 and 8 to rank 1.
        var old = FlatLayout.Build([("a", [5L]), ("b", [40L]), ("c", [3L])], 1);
        var split = old.ForWorldSize(2);
        Assert.Equal([new Piece(0, 0, 0, 5), new Piece(0, 16, 16, 32)], ReshardMap.Pieces(split, old, split.ShardStart(0), split.ShardSize));
        Assert.Equal([new Piece(0, 48, 0, 8), new Piece(0, 64, 16, 3)], ReshardMap.Pieces(split, old, split.ShardStart(1), split.ShardSize));
    }

    [Fact]
    public void PaddingMapsToNothing()
    {
        // One parameter of 3 elements at alignment 16 and W = 4: 64 elements, shards of 16; ranks 1..3 hold only tail
        // padding, and rank 0 holds 13 elements of it after the parameter.
        var old = FlatLayout.Build([("p", [3L])], 1);
        var spread = old.ForWorldSize(4);
        Assert.Equal([new Piece(0, 0, 0, 3)], ReshardMap.Pieces(spread, old, 0, spread.ShardSize));
        for (var rank = 1; rank < 4; rank++)
        {
            Assert.Empty(ReshardMap.Pieces(spread, old, spread.ShardStart(rank), spread.ShardSize));
        }
        // The alignment gap between two parameters is skipped too: only [0, 5) and [16, 18) are filled.
        var gap = FlatLayout.Build([("a", [5L]), ("b", [2L])], 1);
        Assert.Equal([new Piece(0, 0, 0, 5), new Piece(0, 16, 16, 2)], ReshardMap.Pieces(gap, gap, 0, gap.TotalNumel));
    }

    [Fact]
    public void TheWholeBufferMapsEveryParameterElement()
    {
        // Stage 0 keeps the state replicated, so the reader maps [0, total) rather than one shard.
        var old = FlatLayout.Build(s_parameters, 3);
        var loaded = old.ForWorldSize(7);
        var pieces = ReshardMap.Pieces(loaded, old, 0, loaded.TotalNumel);
        Assert.Equal(loaded.ParameterNumel, pieces.Sum(p => p.Count));
        AssertConsistent(old, loaded, 0, loaded.TotalNumel, pieces);
    }

    [Fact]
    public void LayoutsInAnotherParameterOrderAreRefused()
    {
        var old = FlatLayout.Build([("a", [5L]), ("b", [5L])], 2);
        var swapped = FlatLayout.Build([("b", [5L]), ("a", [5L])], 2);
        var e = Assert.Throws<ArgumentException>(() => ReshardMap.Pieces(swapped, old, 0, swapped.ShardSize));
        Assert.Contains("parameter #0: b [5] vs a [5]", e.Message);
    }

    [Fact]
    public void ALayoutMissingAParameterIsRefused()
    {
        var old = FlatLayout.Build([("a", [5L]), ("b", [5L]), ("c", [3L])], 2);
        var fewer = FlatLayout.Build([("a", [5L]), ("b", [5L])], 2);
        var e = Assert.Throws<ArgumentException>(() => ReshardMap.Pieces(fewer, old, 0, fewer.ShardSize));
        Assert.Contains("parameter #2: (none) vs c [3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => ReshardMap.Pieces(old, fewer, 0, old.ShardSize));
        Assert.Contains("parameter #2: c [3] vs (none)", e.Message);
    }

    [Fact]
    public void ARangeOutsideTheBufferIsRefused()
    {
        var layout = FlatLayout.Build(s_parameters, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => ReshardMap.Pieces(layout, layout, layout.ShardStart(1), layout.ShardSize + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReshardMap.Pieces(layout, layout, -1, layout.ShardSize));
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(3, 8)]
    [InlineData(8, 1)]
    [InlineData(2, 5)]
    public void ThreeBillionElementLayoutsReshardWithSixtyFourBitOffsets(int savedWorldSize, int loadedWorldSize)
    {
        // One parameter alone exceeds 2³¹ elements; the check works on whole pieces, so nothing of that size is allocated.
        var old = FlatLayout.Build(Flat.FlatLayoutSizeTests.ThreeBillionParameters, savedWorldSize);
        var loaded = FlatLayout.Build(Flat.FlatLayoutSizeTests.ThreeBillionParameters, loadedWorldSize, alignment: 64);
        var mapped = 0L;
        for (var rank = 0; rank < loaded.WorldSize; rank++)
        {
            var start = loaded.ShardStart(rank);
            var pieces = ReshardMap.Pieces(loaded, old, start, loaded.ShardSize);
            var end = 0L;
            foreach (var piece in pieces.OrderBy(p => p.DestinationOffset))
            {
                var where = $"W {savedWorldSize} → {loadedWorldSize}, rank {rank}, {piece}";
                Assert.True(piece.Count > 0 && piece.DestinationOffset >= end && piece.DestinationOffset + piece.Count <= loaded.ShardSize, where);
                Assert.True(piece.SourceOffset >= 0 && piece.SourceOffset + piece.Count <= old.ShardSize, where);
                var newGlobal = start + piece.DestinationOffset;
                var p = loaded.Entries.Select((e, i) => (e, i)).Single(x => x.e.Offset <= newGlobal && newGlobal < x.e.End).i;
                Assert.True(newGlobal + piece.Count <= loaded.Entries[p].End, where);
                Assert.Equal(old.Entries[p].Offset + (newGlobal - loaded.Entries[p].Offset), piece.OldShard * old.ShardSize + piece.SourceOffset);
                end = piece.DestinationOffset + piece.Count;
                mapped += piece.Count;
            }
        }
        Assert.Equal(old.ParameterNumel, mapped);
    }

    /// <summary>Maps every shard of <paramref name="loaded"/> from <paramref name="old"/> and checks the pieces.</summary>
    private static void AssertMapsEveryShard(FlatLayout old, FlatLayout loaded)
    {
        var mapped = 0L;
        for (var rank = 0; rank < loaded.WorldSize; rank++)
        {
            var start = loaded.ShardStart(rank);
            var pieces = ReshardMap.Pieces(loaded, old, start, loaded.ShardSize);
            AssertConsistent(old, loaded, start, loaded.ShardSize, pieces);
            mapped += pieces.Sum(p => p.Count);
        }
        Assert.Equal(old.ParameterNumel, mapped);
    }

    /// <summary>
    /// Each piece lies inside one old shard and inside the range; together they cover every parameter element of the
    /// range exactly once and no padding; and each element comes from the old global offset of the same parameter
    /// element (old.Offset(p) + e → loaded.Offset(p) + e).
    /// </summary>
    private static void AssertConsistent(FlatLayout old, FlatLayout loaded, long start, long length, List<Piece> pieces)
    {
        var where = $"W {old.WorldSize} → {loaded.WorldSize}, range [{start}, {start + length})";
        var expectedOld = new long[loaded.TotalNumel];
        Array.Fill(expectedOld, -1);
        for (var p = 0; p < loaded.Entries.Count; p++)
        {
            for (var e = 0L; e < loaded.Entries[p].Numel; e++)
            {
                expectedOld[loaded.Entries[p].Offset + e] = old.Entries[p].Offset + e;
            }
        }
        var covered = new int[length];
        foreach (var piece in pieces)
        {
            Assert.True(piece.Count > 0, $"{where}: empty piece {piece}");
            Assert.True(piece.OldShard >= 0 && piece.OldShard < old.WorldSize, $"{where}: {piece} names no old shard");
            Assert.True(piece.SourceOffset >= 0 && piece.SourceOffset + piece.Count <= old.ShardSize,
                $"{where}: {piece} reads outside its old shard of {old.ShardSize} elements");
            Assert.True(piece.DestinationOffset >= 0 && piece.DestinationOffset + piece.Count <= length,
                $"{where}: {piece} writes outside the range");
            for (var k = 0L; k < piece.Count; k++)
            {
                var newGlobal = start + piece.DestinationOffset + k;
                var oldGlobal = piece.OldShard * old.ShardSize + piece.SourceOffset + k;
                covered[piece.DestinationOffset + k]++;
                Assert.True(expectedOld[newGlobal] == oldGlobal,
                    $"{where}: new element {newGlobal} is read from old {oldGlobal}, expected {expectedOld[newGlobal]} (-1: padding)");
            }
        }
        for (var i = 0L; i < length; i++)
        {
            var expected = expectedOld[start + i] >= 0 ? 1 : 0;
            Assert.True(covered[i] == expected, $"{where}: new element {start + i} is filled {covered[i]} time(s), expected {expected}");
        }
    }
}
