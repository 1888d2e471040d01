using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Tests.Telemetry;

public sealed class MetricsLogTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-metrics-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Path_ => Path.Combine(_root, MetricsLog.FileName);

    private static StepMetrics Step(long step) => new(step, 1, 10, step * 32, 1.0 / step, 1e-3, 2.5, 100, 0);

    private void Write(long startStep, params long[] steps)
    {
        using var log = MetricsLog.Open(_root, startStep, interval: 1);
        foreach (var step in steps)
        {
            log.Write(Step(step));
            if (step % 2 == 0)
            {
                log.Write(new EvalMetrics(step, step * 32, 0.5, 0.8, null));
            }
        }
    }

    [Fact]
    public void RecordsAreOneJsonObjectALineWithTheirKindAndReadBack()
    {
        Write(0, 1, 2);

        var lines = File.ReadAllLines(Path_);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("""{"kind":"step","step":1,"epoch":1,"total_steps":10,"samples_seen":32,""", lines[0]);
        Assert.Equal("""{"kind":"eval","step":2,"samples_seen":64,"loss":0.5,"accuracy":0.8,"split":"test"}""", lines[2]);
        Assert.Equal([Step(1), Step(2)], MetricsLog.ReadSteps(Path_));
        Assert.Equal([new EvalMetrics(2, 64, 0.5, 0.8, null)], MetricsLog.ReadEvaluations(Path_));
    }

    [Fact]
    public void AResumedRunDropsTheRecordsBeyondItsCheckpointAndATornLastLine()
    {
        Write(0, 1, 2, 3, 4, 5);
        File.AppendAllText(Path_, """{"kind":"step","step":6,"ep""");

        Write(2, 3, 4, 5, 6);

        Assert.Equal([1L, 2, 3, 4, 5, 6], MetricsLog.ReadSteps(Path_).Select(s => s.Step));
        Assert.Equal([2L, 4, 6], MetricsLog.ReadEvaluations(Path_).Select(e => e.Step));
        Assert.False(File.Exists(Path_ + ".tmp"));
    }

    [Fact]
    public void AFreshRunStartsAnEmptyFile()
    {
        Write(0, 1, 2, 3);
        Write(0, 1);

        Assert.Equal([1L], MetricsLog.ReadSteps(Path_).Select(s => s.Step));
    }

    [Fact]
    public void AReaderGetsOnlyCompleteLinesAndRestartsOnARewrittenFile()
    {
        Write(0, 1, 2);
        var (first, offset) = MetricsLog.ReadLines(Path_);
        Assert.Equal(3, first.Count);
        File.AppendAllText(Path_, """{"kind":"step","st""");
        Assert.Empty(MetricsLog.ReadLines(Path_, offset).Lines);

        Write(0, 1);

        var (again, _) = MetricsLog.ReadLines(Path_, offset);
        Assert.True(MetricsLog.TryParseStep(Assert.Single(again), out var step));
        Assert.Equal(Step(1), step);
    }

    [Fact]
    public void OnlyEveryIntervalthStepAndTheLastAreLogged()
    {
        using var log = MetricsLog.Open(_root, 0, interval: 4);
        Assert.Equal([4L, 8, 10], Enumerable.Range(1, 10).Select(s => (long)s).Where(s => log.Logs(s, 10)));
    }

    [Theory]
    [InlineData("0.1.0+38b3fdb00c6798ddae2eb2c17f01d228784889c9", "0.1.0", "38b3fdb00c6798ddae2eb2c17f01d228784889c9")]
    [InlineData("0.1.0", "0.1.0", null)]
    [InlineData("1.2.3-rc.1+build.5.abcdef1", "1.2.3-rc.1", "abcdef1")]
    [InlineData(null, null, null)]
    public void TheVersionAndCommitAreReadFromTheInformationalVersion(string? informational, string? version, string? commit) =>
        Assert.Equal((version, commit), BuildInfo.Parse(informational));
}
