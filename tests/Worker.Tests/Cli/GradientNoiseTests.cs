using System.Globalization;
using System.Text.Json;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// The gradient noise scale where a user finds it: the progress line, <c>summary.json</c>'s <c>gradient_noise</c>
/// (the run's and each epoch's estimate with its interval, or a reason) and the step records of <c>metrics.jsonl</c>.
/// The estimator's statistics are proved in the library's tests; these pin what the trainer reports.
/// </summary>
public sealed class GradientNoiseTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-noise-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string[] Train(string runDir, params string[] more) =>
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=1024", "--set", "test_subset=100", "--set", "epochs=2",
        "--set", "micro_batch=16", "--set", "log_every=8", "--set", "checkpoint_every=0", "--set", "resume=none", "--set", $"run_dir={runDir}",
        .. more.SelectMany(m => new[] { "--set", m }),
    ];

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, RunSummaryWriter.FileName))).RootElement;

    [Fact]
    public void TwoRanksWithAccumulationReportTheNoiseScaleWithItsIntervalPerRunAndEpoch()
    {
        var runDir = Path.Combine(_root, "two");
        var result = AdanCli.Run(["launch", "-n", "2", "--", .. Train(runDir, "accumulation=2", "zero_stage=2")], TimeSpan.FromMinutes(3));
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains(result.StdoutLines, l => l.Contains(" B_noise≈", StringComparison.Ordinal));

        // b = micro_batch × accumulation on a rank, B = W × b; the population is the 1024 training samples.
        var noise = Summary(runDir).GetProperty("gradient_noise");
        var run = noise.GetProperty("run");
        Assert.Equal(32, run.GetProperty("b_small").GetInt64());
        Assert.Equal(64, run.GetProperty("b_big").GetInt64());
        Assert.True(run.GetProperty("finite_population").GetBoolean());
        Assert.Equal(32, run.GetProperty("steps").GetInt64());
        var bSimple = run.GetProperty("b_simple").GetDouble();
        // Fieller's interval: never below 0, "Infinity" at the top while |G|² is within its noise of 0 (3 windows here).
        var interval = run.GetProperty("b_simple_ci95").EnumerateArray()
            .Select(e => e.ValueKind == JsonValueKind.String ? double.Parse(e.GetString()!, CultureInfo.InvariantCulture) : e.GetDouble()).ToArray();
        Assert.True(bSimple > 0 && interval.Length == 2 && 0 <= interval[0] && interval[0] < bSimple && bSimple < interval[1], noise.ToString());
        Assert.True(run.GetProperty("trace_sigma").GetDouble() > 0 && run.GetProperty("grad_sq_norm").GetDouble() > 0, noise.ToString());
        Assert.Equal(JsonValueKind.Null, noise.GetProperty("reason").ValueKind);
        Assert.Equal([16L, 16], noise.GetProperty("epochs").EnumerateArray().Select(e => e.GetProperty("steps").GetInt64()));

        var steps = MetricsLog.ReadSteps(Path.Combine(runDir, MetricsLog.FileName));
        Assert.Equal([8L, 16, 24, 32], steps.Select(s => s.Step));
        Assert.All(steps, s => Assert.True(s.BSmall == 32 && s.BBig == 64 && s.TraceSigma > 0 && s.GradSqNorm > 0, $"{s}"));
    }

    [Fact]
    public void OneRankWithoutAccumulationSaysWhyAndTheSwitchTurnsItOff()
    {
        var one = Path.Combine(_root, "one");
        var result = AdanCli.Run(Train(one), TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Describe());
        var noise = Summary(one).GetProperty("gradient_noise");
        Assert.Equal(JsonValueKind.Null, noise.GetProperty("run").ValueKind);
        Assert.Contains("one rank without accumulation", noise.GetProperty("reason").GetString());
        Assert.DoesNotContain(result.StdoutLines, l => l.Contains("B_noise", StringComparison.Ordinal));
        Assert.All(MetricsLog.ReadSteps(Path.Combine(one, MetricsLog.FileName)), s => Assert.Null(s.BSimple));

        var off = Path.Combine(_root, "off");
        result = AdanCli.Run(Train(off, "accumulation=2", "gradient_noise=false"), TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Equal(JsonValueKind.Null, Summary(off).GetProperty("gradient_noise").ValueKind);
        Assert.All(MetricsLog.ReadSteps(Path.Combine(off, MetricsLog.FileName)), s => Assert.Null(s.BSmall));
    }

    [Fact]
    public void OneRankWithAccumulationTakesTheFirstMicroBatchAsTheSmallBatch()
    {
        var runDir = Path.Combine(_root, "accumulated");
        var result = AdanCli.Run(Train(runDir, "accumulation=4"), TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Describe());
        var run = Summary(runDir).GetProperty("gradient_noise").GetProperty("run");
        Assert.Equal(16, run.GetProperty("b_small").GetInt64());
        Assert.Equal(64, run.GetProperty("b_big").GetInt64());
        Assert.Equal(32, run.GetProperty("steps").GetInt64());
    }
}
