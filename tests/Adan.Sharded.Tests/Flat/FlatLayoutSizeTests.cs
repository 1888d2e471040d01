using Adan.Sharded.Flat;
using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Tests.Flat;

/// <summary>
/// Layouts, shard ranges and the optimizer's segment slices of a 3×10⁹-element model, one of whose parameters alone
/// exceeds 2³¹ elements. Pure arithmetic (a never-read address stands in for the buffers): nothing is allocated.
/// </summary>
public unsafe class FlatLayoutSizeTests
{
    /// <summary>2.1×10⁹ + (3×10⁸)² − 1 + 7 = 3 000 000 006 elements: one parameter beyond a span, sizes that are not
    /// multiples of the alignment, and a small tail.</summary>
    internal static readonly (string Name, long[] Shape)[] ThreeBillionParameters =
    [
        ("embed", [70_000, 30_000]), ("proj", [29_999, 30_001]), ("bias", [7]),
    ];

    // Never dereferenced: only addresses are computed from it.
    private static readonly float* s_nowhere = (float*)(nint)0x10000;

    public static TheoryData<int> WorldSizes() => [1, 2, 3, 8];

    [Theory]
    [MemberData(nameof(WorldSizes))]
    public void AThreeBillionElementLayoutTilesIntoEqualShards(int worldSize)
    {
        var layout = FlatLayout.Build(ThreeBillionParameters, worldSize);

        Assert.Equal(3_000_000_006, layout.ParameterNumel);
        Assert.Equal(0, layout.TotalNumel % ((long)worldSize * FlatLayout.DefaultAlignment));
        Assert.Equal(layout.TotalNumel, layout.ShardSize * worldSize);
        Assert.Equal(layout.TotalNumel, layout.ShardStart(worldSize - 1) + layout.ShardSize);
        Assert.All(layout.Entries, e => Assert.Equal(0, e.Offset % FlatLayout.DefaultAlignment));
        Assert.Equal(2_100_000_000, layout.Entries[1].Offset);
        Assert.True(layout.Entries[2].End > int.MaxValue);
        Assert.True(layout.TotalNumel - layout.ParameterNumel < 2 * worldSize * FlatLayout.DefaultAlignment);

        var reread = FlatLayout.FromJson(layout.ToJson());
        Assert.Equal(layout.Entries.Select(e => (e.Offset, e.Numel)), reread.Entries.Select(e => (e.Offset, e.Numel)));
        Assert.Equal(layout.TotalNumel, reread.TotalNumel);
    }

    [Theory]
    [MemberData(nameof(WorldSizes))]
    public void EveryShardsSegmentsSliceItsStateOnceEach(int worldSize)
    {
        var layout = FlatLayout.Build(ThreeBillionParameters, worldSize);
        var groups = new int[layout.Entries.Count];
        var covered = 0L;
        for (var rank = 0; rank < worldSize; rank++)
        {
            // What ShardedOptimizer.Update does with each segment, on a shard-sized run of memory.
            var shard = new FloatMemory(s_nowhere, layout.ShardSize);
            var segments = ShardSegment.Of(layout, layout.ShardStart(rank), layout.ShardSize, groups);
            long previousEnd = 0;
            foreach (var s in segments)
            {
                Assert.True(s.LocalStart >= previousEnd, $"rank {rank}: segments overlap at {s.LocalStart}");
                var slice = shard.Slice(s.LocalStart, s.Length);
                Assert.Equal((nint)(s_nowhere + s.LocalStart), (nint)slice.Pointer);
                var e = layout.Entries[s.Parameter];
                Assert.InRange(layout.ShardStart(rank) + s.LocalStart, e.Offset, e.End - s.Length);
                previousEnd = s.LocalStart + s.Length;
                covered += s.Length;
            }
        }
        Assert.Equal(layout.ParameterNumel, covered);
    }

    [Fact]
    public void StageZeroSlicesEachRanksNormRangeOutOfTheWholeBuffer()
    {
        // Stage 0 holds the whole gradient and takes Σg² over the rank's own shard of it.
        var layout = FlatLayout.Build(ThreeBillionParameters, 8);
        var whole = new FloatMemory(s_nowhere, layout.TotalNumel);
        for (var rank = 0; rank < 8; rank++)
        {
            var own = whole.Slice(layout.ShardStart(rank), layout.ShardSize);
            Assert.Equal((nint)(s_nowhere + rank * layout.ShardSize), (nint)own.Pointer);
        }
        var segments = ShardSegment.Of(layout, 0, layout.TotalNumel, new int[layout.Entries.Count]);
        Assert.Equal([2_100_000_000L, 899_999_999L, 7L], segments.Select(s => s.Length));
    }
}
