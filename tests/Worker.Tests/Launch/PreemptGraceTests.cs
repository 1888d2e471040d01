using Adan.Worker.Launch;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Tests.Launch;

/// <summary>The default <c>--preempt-grace</c>: from the saves the run measured, or the fixed default before any.</summary>
public sealed class PreemptGraceTests
{
    [Fact]
    public void TheGraceIsThreeTimesTheLongestMeasuredSavePlusTheMargin()
    {
        using var temp = TestFiles.CreateTempDirectory();
        using (var log = MetricsLog.Open(temp.Path, 0, 1))
        {
            log.Write(new CheckpointMetrics(8, 1000, 2.5, 0.1));
            log.Write(new CheckpointMetrics(16, 1000, 4.0, 0.1));
            log.Write(new CheckpointMetrics(24, 1000, 1.0, 0.1));
        }

        var grace = PreemptGrace.Measured(["train", "--set", $"run_dir={temp.Path}"]);

        Assert.Equal(PreemptGrace.Factor * 4.0 + PreemptGrace.MarginSeconds, grace.TotalSeconds, 9);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithoutAMeasuredSaveTheGraceIsTheFixedDefault(bool bindable)
    {
        using var temp = TestFiles.CreateTempDirectory();
        using (var log = MetricsLog.Open(temp.Path, 0, 1))
        {
            log.Write(new EvalMetrics(8, 128, 0.5, 0.9, null));
        }
        string[] command = bindable ? ["train", "--set", $"run_dir={temp.Path}"] : ["train", "--set", "no_such_key=1"];

        var grace = PreemptGrace.Measured(command);

        Assert.Equal(PreemptGrace.UnmeasuredSeconds, grace.TotalSeconds);
    }
}
