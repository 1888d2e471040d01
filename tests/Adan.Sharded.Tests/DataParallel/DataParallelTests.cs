using System.Globalization;
using Adan.Sharded.Tests.MultiRank;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.DataParallel;

/// <summary>
/// W ranks × batch b must train exactly like 1 rank × batch W·b. Tolerance: losses and final
/// parameters within 1e-5 relative + 1e-6 absolute over 20 Adan steps (the only differences are
/// float32 summation orders in the gradient average).
/// </summary>
public class DataParallelTests(ITestOutputHelper output)
{
    private const int Steps = 20;

    [Theory]
    [InlineData(2, 1)]
    [InlineData(4, 1)]
    [InlineData(2, 2)]
    public void WRanksEqualOneRankWithTheWholeBatch(int ranks, int microBatches)
    {
        var reference = Run(1, 16, 1, null);
        var distributed = Run(ranks, 16, microBatches, null);
        AssertClose(reference, distributed, $"{ranks} ranks × {microBatches} micro-batches");
    }

    [Fact]
    public void AccumulationOnOneRankEqualsOneBatch()
    {
        AssertClose(Run(1, 16, 1, null), Run(1, 16, 4, null), "1 rank × 4 micro-batches");
    }

    [Fact]
    public void SmallBucketsGiveTheSameResultAsOneBucket()
    {
        // 64-byte buckets: every bucket holds 16 floats, so dozens are in flight together.
        AssertClose(Run(2, 16, 1, null), Run(2, 16, 1, "64"), "2 ranks with 64-byte buckets");
    }

    private (double[] Losses, float[] Params) Run(int ranks, int globalBatch, int microBatches, string? bucketBytes)
    {
        var args = new List<string> { globalBatch.ToString(), Steps.ToString(), microBatches.ToString() };
        if (bucketBytes is not null)
        {
            args.Add(bucketBytes);
        }
        var result = MpiHarness.RunOk(ranks, "ddp-mlp", args.ToArray());
        var lines = result.Stdout[0].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var losses = lines.Where(l => l.StartsWith("loss ")).Select(l => double.Parse(l.Split(' ')[2], CultureInfo.InvariantCulture)).ToArray();
        var parameters = lines.Single(l => l.StartsWith("params "))[7..].Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(Steps, losses.Length);
        return (losses, parameters);
    }

    private void AssertClose((double[] Losses, float[] Params) expected, (double[] Losses, float[] Params) actual, string what)
    {
        var maxLoss = expected.Losses.Zip(actual.Losses).Max(p => Math.Abs(p.First - p.Second));
        var maxParam = expected.Params.Zip(actual.Params).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"{what}: max |Δloss| = {maxLoss:E2}, max |Δparam| = {maxParam:E2}");
        for (var i = 0; i < expected.Losses.Length; i++)
        {
            Assert.True(Math.Abs(expected.Losses[i] - actual.Losses[i]) <= 1e-6 + 1e-5 * Math.Abs(expected.Losses[i]),
                $"{what}: loss at step {i} is {actual.Losses[i]}, expected {expected.Losses[i]} (max diff {maxLoss:E2})");
        }
        Assert.Equal(expected.Params.Length, actual.Params.Length);
        for (var i = 0; i < expected.Params.Length; i++)
        {
            Assert.True(Math.Abs(expected.Params[i] - actual.Params[i]) <= 1e-6 + 1e-5 * Math.Abs(expected.Params[i]),
                $"{what}: parameter {i} is {actual.Params[i]}, expected {expected.Params[i]} (max diff {maxParam:E2})");
        }
    }
}
