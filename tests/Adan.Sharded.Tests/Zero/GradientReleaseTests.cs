using Adan.Sharded.Tests.MultiRank;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Zero;

/// <summary>
/// ZeRO-2 with overlapped reduction returns each bucket's pages outside the rank's shard once its reduce-scatter has
/// completed: the <c>zero2-release</c> scenario (tests/Adan.MultiRank/GradientReleaseScenario.cs) trains a 16-layer
/// MLP of 9.4 M parameters (37.8 MB of gradients) with ZeRO-1 and ZeRO-2 side by side, 160 buckets of 256 KiB, and
/// checks bit-for-bit equal parameters every step and the measured (<c>mincore</c>) peak of resident gradient bytes:
/// the whole buffer with ZeRO-1, at most shard + one parameter + the buckets in flight and two waiting + two huge pages
/// with ZeRO-2.
/// </summary>
public class GradientReleaseTests(ITestOutputHelper output)
{
    [Fact]
    public void ZeroTwoReleasesBucketsAsTheyAreReducedAndEqualsZeroOneBitForBit()
    {
        var result = MpiHarness.RunOk(2, "zero2-release", "16", "768", "4", "262144");
        foreach (var line in string.Join('\n', result.Stdout).Split('\n').Where(l => l.StartsWith("peak gradient bytes")))
        {
            output.WriteLine(line);
        }
    }
}
