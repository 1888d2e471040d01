using Adan.Sharded.Tests.MultiRank;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.DataParallel;

/// <summary>
/// Overlapped gradient reduction gives the parameters of the blocking one, on every rank and every step: the
/// <c>overlap</c> scenario trains two copies side by side (see tests/Adan.MultiRank/OverlapScenario.cs). At W = 2 a
/// sum of two floats does not depend on its order, so the check is bit for bit; at W = 3 MPICH may associate the three
/// terms differently per bucket size, so within 1e-6 relative + 1e-6 absolute.
/// </summary>
public class OverlapEquivalenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("mlp", 0, 1)]
    [InlineData("mlp", 1, 1)]
    [InlineData("mlp", 2, 2)]
    [InlineData("convnet", 0, 2)]
    [InlineData("convnet", 1, 1)]
    [InlineData("convnet", 2, 1)]
    public void OverlappedEqualsBlockingBitForBitOnTwoRanks(string model, int stage, int microBatches) =>
        Run(2, model, stage, microBatches, exact: true);

    [Theory]
    [InlineData("mlp", 1)]
    [InlineData("convnet", 2)]
    public void OverlappedEqualsBlockingOnThreeRanks(string model, int stage) => Run(3, model, stage, 1, exact: false);

    private void Run(int ranks, string model, int stage, int microBatches, bool exact)
    {
        var result = MpiHarness.RunOk(ranks, "overlap", model, stage.ToString(), "4", microBatches.ToString(), exact ? "1" : "0");
        var line = result.Stdout[0].Split('\n').Single(l => l.StartsWith("launched during backward"));
        output.WriteLine($"W={ranks} {model} ZeRO-{stage} × {microBatches} micro-batches: {line}");
    }
}
