using System.Globalization;
using System.Text.RegularExpressions;
using Adan.Sharded.Tests.MultiRank;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Statistics;

/// <summary>
/// The engine's noise samples on the exactly known least-squares problem of the <c>noise-scale</c> scenario
/// (tests/Adan.MultiRank/NoiseScaleScenario.cs: N = 512, 17 parameters, learning rate 0, every step clipped, one step
/// made non-finite), 400 steps at B = 256 = N/2: W = 2 through ZeRO-0/1/2 with and without overlap and accumulation
/// 1 or 2, W = 4 (ZeRO-1, overlapped), and W = 1 with accumulation 2 (the first micro-batch as the small batch). Each
/// launch checks its estimates against the truth (4 standard errors), the bias without the finite-population factor,
/// the skipped step and the agreement of its configurations; here the launches with the same (b, B) = (128, 256),
/// W = 2 and W = 1 × 2, must agree too.
/// </summary>
public partial class NoiseScaleEngineTests(ITestOutputHelper output)
{
    [Fact]
    public void EstimatesMatchTheTruthAtEveryWorldSizeStageAndAccumulation()
    {
        var lines = new List<string>();
        foreach (var (ranks, configs) in new[]
                 {
                     (2, new[] { "1:0:-", "2:1:o", "1:2:o", "2:2:-" }),
                     (4, new[] { "1:1:o" }),
                     (1, new[] { "2:1:-", "2:0:o" }),
                 })
        {
            var result = MpiHarness.RunOk(ranks, "noise-scale", ["400", "256", .. configs]);
            lines.AddRange(result.Stdout[0].Split('\n').Where(l => l.StartsWith("noise-scale", StringComparison.Ordinal)));
        }
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }
        var same = lines.Where(l => l.Contains(" b=128 B=256 ", StringComparison.Ordinal)).Select(Parse).ToArray();
        Assert.Equal(6, same.Length);
        foreach (var a in same)
        {
            foreach (var b in same)
            {
                Assert.True(Math.Abs(a.Value - b.Value) <= 2 * Math.Sqrt(a.Half * a.Half + b.Half * b.Half),
                    $"B_simple {a.Value} ± {a.Half} and {b.Value} ± {b.Half} disagree");
            }
        }
    }

    private static (double Value, double Half) Parse(string line)
    {
        var m = BSimple().Match(line);
        Assert.True(m.Success, line);
        var lo = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        var hi = double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        return (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), (hi - lo) / 2);
    }

    [GeneratedRegex(@"b_simple=([-0-9.]+) ci=\[([-0-9.]+),([-0-9.]+)\]")]
    private static partial Regex BSimple();
}
