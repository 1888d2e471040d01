using Adan.Sharded.Collectives;
using Adan.Sharded.Tests.MultiRank;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Mpi;

public class CollectiveTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void EveryCollectiveGivesTheHandComputedResult(int ranks)
    {
        var result = MpiHarness.RunOk(ranks, "collectives");
        for (var r = 0; r < ranks; r++)
        {
            Assert.Contains($"rank {r}: collectives ok", result.Stdout[r]);
        }
    }

    /// <summary>
    /// The same hand-computed results with at most 2 elements (bytes for the broadcast) per MPI call: every collective
    /// takes the path a tensor beyond MPI's int count takes (chunked all-reduces and broadcast, reduce-scatter by
    /// rooted reduces, all-gather by rooted broadcasts), on tensors of a few elements instead of 8 GiB.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void CollectivesBeyondOneMpiCountAreIssuedInChunks(int ranks)
    {
        var result = MpiHarness.RunOk(ranks, "collectives", "2");
        for (var r = 0; r < ranks; r++)
        {
            Assert.Contains($"rank {r}: collectives ok (at most 2 per MPI call)", result.Stdout[r]);
        }
    }

    [Theory]
    [InlineData(1, "single")]
    [InlineData(1, "mpi")]
    [InlineData(3, "mpi")]
    public void AbortFromASecondThreadEndsTheJobWithItsCode(int ranks, string backend)
    {
        var result = MpiHarness.Run(ranks, "abort", [backend, "3"], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 3, result.Describe());
    }

    [Fact]
    public void SingleProcessBackendRefusesWhatMpiRefuses()
    {
        using var c = new SingleProcessCollective();
        using var strided = zeros(3, 3).t();
        Assert.Contains("not contiguous", Assert.Throws<ArgumentException>(() => c.AllReduce(strided)).Message);
        using var half = zeros(3, dtype: float16);
        Assert.Contains("Float16", Assert.Throws<ArgumentException>(() => c.AllReduce(half)).Message);
        using var a = zeros(4);
        using var b = zeros(4, dtype: float64);
        Assert.Contains("dtype", Assert.Throws<ArgumentException>(() => c.AllGather(a, b)).Message);
    }

    [Fact]
    public void SingleProcessBackendCopiesOutOfPlace()
    {
        using var c = new SingleProcessCollective();
        using var input = arange(4, dtype: float32);
        using var output = zeros(4);
        c.ReduceScatter(input, output, ReduceOp.Average);
        Assert.Equal(new float[] { 0, 1, 2, 3 }, output.data<float>().ToArray());
        Assert.Equal(2.5, c.AllReduce(2.5));
    }
}
