using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Tests.Telemetry;

/// <summary>
/// <c>tensorboard_dir</c>'s event file read back with an independent TFRecord reader (<see cref="TfEventReader"/>):
/// every record field as a scalar under its tag, with both CRCs right; a failed write warns once and stops only
/// TensorBoard.
/// </summary>
public sealed class TensorBoardLogTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-tensorboard-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static readonly DateTimeOffset s_now = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void EveryRecordFieldIsAScalarUnderItsTag()
    {
        var directory = Path.Combine(_root, "tb");
        var warnings = new StringWriter();
        var log = TensorBoardLog.Open(directory, warnings, new FixedClock(s_now));
        log.Write(new StepMetrics(10, 1, 40, 640, 2.25, 1e-3, 0.75, 1234.5, 0) { BSmall = 64, BBig = 128, TraceSigma = 3.5, GradSqNorm = 0.125, BSimple = 28 });
        // A skipped step has no gradient norm, and a run that does not measure noise has none of its fields.
        log.Write(new StepMetrics(20, 1, 40, 1280, double.NaN, 2e-3, null, 1500, 1));
        log.Write(new EvalMetrics(20, 1280, 0.5, 0.875, null) { Split = EvalMetrics.ValidationSplit });
        log.Write(new EvalMetrics(40, 2560, 1.25, null, 3.4903429574618414));

        var (version, scalars) = TfEventReader.Read(Assert.Single(Directory.GetFiles(directory)));
        Assert.Equal("brain.Event:2", version);
        (long, string, float)[] expected =
        [
            (10, "train/loss", 2.25f), (10, "train/lr", 1e-3f), (10, "train/grad_norm", 0.75f), (10, "train/samples_per_second", 1234.5f),
            (10, "noise/b_simple", 28f), (10, "noise/trace_sigma", 3.5f), (10, "noise/grad_sq_norm", 0.125f),
            (20, "train/loss", float.NaN), (20, "train/lr", 2e-3f), (20, "train/samples_per_second", 1500f),
            (20, "val/loss", 0.5f), (20, "val/accuracy", 0.875f),
            (40, "test/loss", 1.25f), (40, "test/perplexity", 3.4903429574618414f),
        ];
        Assert.Equal(expected, scalars.Select(s => (s.Step, s.Tag, s.Value)));
        Assert.All(scalars, s => Assert.Equal(s_now.ToUnixTimeSeconds(), s.WallTime));
        Assert.Equal("", warnings.ToString());
        Assert.False(log.Stopped);
    }

    [Fact]
    public void AFailedWriteWarnsOnceAndStopsOnlyTensorBoard()
    {
        var directory = Path.Combine(_root, "gone");
        var warnings = new StringWriter();
        var log = TensorBoardLog.Open(directory, warnings, new FixedClock(s_now));
        log.Write(new StepMetrics(1, 1, 3, 8, 1.0, 1e-3, 1.0, 10, 0));
        // The directory replaced by a file: the writer can neither append to nor recreate its event file.
        Directory.Delete(directory, recursive: true);
        File.WriteAllText(directory, "not a directory");

        log.Write(new StepMetrics(2, 1, 3, 16, 1.0, 1e-3, 1.0, 10, 0));
        log.Write(new EvalMetrics(3, 24, 0.5, 0.5, null));

        Assert.True(log.Stopped);
        var warning = Assert.Single(warnings.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"warning: writing TensorBoard events to {directory} failed (", warning);
        Assert.EndsWith("training and metrics.jsonl go on.", warning);
        Assert.Equal("not a directory", File.ReadAllText(directory));
    }

    [Fact]
    public void ADirectoryThatCannotBeCreatedIsRefusedAtOpenNamingIt()
    {
        var file = Path.Combine(_root, "file");
        File.WriteAllText(file, "");
        var directory = Path.Combine(file, "tb");

        var error = Assert.Throws<IOException>(() => TensorBoardLog.Open(directory, TextWriter.Null, TimeProvider.System));

        Assert.StartsWith($"tensorboard_dir '{directory}': cannot create a TensorBoard event file there (", error.Message);
        Assert.EndsWith("or set tensorboard_dir= (empty) to turn TensorBoard off.", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void StepsPastTensorBoardsRangeAreLeftOutWithOneWarning()
    {
        var directory = Path.Combine(_root, "big");
        var warnings = new StringWriter();
        var log = TensorBoardLog.Open(directory, warnings, new FixedClock(s_now));
        log.Write(new StepMetrics(int.MaxValue + 1L, 1, long.MaxValue, 8, 1.0, 1e-3, 1.0, 10, 0));
        log.Write(new EvalMetrics(int.MaxValue + 2L, 24, 0.5, 0.5, null));
        log.Write(new StepMetrics(int.MaxValue, 1, long.MaxValue, 8, 1.0, 1e-3, 1.0, 10, 0));

        Assert.All(TfEventReader.Read(Assert.Single(Directory.GetFiles(directory))).Scalars, s => Assert.Equal(int.MaxValue, s.Step));
        Assert.Single(warnings.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(log.Stopped);
    }
}
