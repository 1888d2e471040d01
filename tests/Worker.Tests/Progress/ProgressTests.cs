using Adan.Sharded.Training.Progress;

namespace Adan.Worker.Tests.Progress;

public class ProgressTests
{
    [Fact]
    public void PlainLineHasTheDocumentedFormat()
    {
        var report = new StepReport(Epoch: 1, Step: 120, TotalSteps: 940, Loss: 0.41234, Lr: 0.0012, SamplesPerSecond: 2150.4);
        Assert.Equal(
            "epoch 1 step 120/940 loss 0.4123 lr 1.2e-03 samples/s 2150 eta 00:03:12",
            ProgressFormat.Line(report, TimeSpan.FromSeconds(192)));
        Assert.EndsWith("eta --:--:--", ProgressFormat.Line(report, null));
    }

    [Fact]
    public void SkippedStepsAppearOnlyOnceThereAreAny()
    {
        var report = new StepReport(Epoch: 1, Step: 120, TotalSteps: 940, Loss: 0.41234, Lr: 0.0012, SamplesPerSecond: 2150.4, SkippedSteps: 3);
        Assert.Equal(
            "epoch 1 step 120/940 loss 0.4123 lr 1.2e-03 samples/s 2150 skipped 3 eta 00:03:12",
            ProgressFormat.Line(report, TimeSpan.FromSeconds(192)));
        Assert.DoesNotContain("skipped", ProgressFormat.Line(report with { SkippedSteps = 0 }, null));
    }

    [Fact]
    public void DurationsAndEtasAreFormatted()
    {
        Assert.Equal("27:46:40", ProgressFormat.Duration(TimeSpan.FromSeconds(100_000)));
        Assert.Equal(TimeSpan.FromSeconds(30), ProgressFormat.Eta(TimeSpan.FromSeconds(10), stepsDone: 10, stepsLeft: 30));
        Assert.Null(ProgressFormat.Eta(TimeSpan.FromSeconds(10), stepsDone: 0, stepsLeft: 30));
        Assert.Equal("3.0e-04", ProgressFormat.LearningRate(3e-4));
    }

    [Fact]
    public void PlainReporterWritesEveryIntervalAndTheLastStep()
    {
        var output = new StringWriter();
        using var reporter = new PlainProgressReporter(output, interval: 2);
        reporter.Start(5);
        for (var step = 1; step <= 5; step++)
        {
            reporter.Report(new StepReport(1, step, 5, 1.0 / step, 1e-3, 100));
        }
        reporter.Message("eval accuracy 0.9");
        reporter.Complete();
        reporter.Report(new StepReport(1, 6, 6, 0, 0, 0));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("epoch 1 step 2/5 loss 0.5000 lr 1.0e-03 samples/s 100 eta ", lines[0]);
        Assert.StartsWith("epoch 1 step 4/5 ", lines[1]);
        Assert.StartsWith("epoch 1 step 5/5 ", lines[2]);
        Assert.EndsWith("eta 00:00:00", lines[2]);
        Assert.Equal("eval accuracy 0.9", lines[3]);
    }

    [Fact]
    public void FactoryPicksByRankAndTerminal()
    {
        using var other = ProgressReporterFactory.Create(1, 10, outputRedirected: true, TextWriter.Null);
        using var plain = ProgressReporterFactory.Create(0, 10, outputRedirected: true, TextWriter.Null);
        using var live = ProgressReporterFactory.Create(0, 10, outputRedirected: false, TextWriter.Null);
        Assert.IsType<SilentProgressReporter>(other);
        Assert.IsType<PlainProgressReporter>(plain);
        Assert.IsType<LiveProgressReporter>(live);
    }

    [Fact]
    public void LiveReporterRendersAndStops()
    {
        var output = new StringWriter();
        var console = InteractiveConsole(output);
        using var reporter = new LiveProgressReporter(console);
        reporter.Start(3);
        reporter.Report(new StepReport(1, 3, 3, 0.25, 1e-3, 500));
        // Square brackets are Spectre markup: a message must be printed literally, not parsed (or rejected).
        reporter.Message("[not markup]");
        reporter.Complete();
        var rendered = output.ToString();
        reporter.Complete();

        Assert.Contains("[not markup]", rendered);
        Assert.Contains("0.2500", rendered);
        Assert.Contains("500 samples/s", rendered);
        Assert.Equal(rendered, output.ToString());
    }

    [Fact]
    public void LiveReporterShowsSkippedSteps()
    {
        var output = new StringWriter();
        var console = InteractiveConsole(output);
        using var reporter = new LiveProgressReporter(console);
        reporter.Start(3);
        reporter.Report(new StepReport(1, 3, 3, 0.25, 1e-3, 500, SkippedSteps: 2));
        reporter.Complete();
        Assert.Contains("500 samples/s skipped 2", output.ToString());
    }

    /// <summary>A console that renders live displays into <paramref name="output"/>, wide enough for one line.</summary>
    private static Spectre.Console.IAnsiConsole InteractiveConsole(StringWriter output)
    {
        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(output),
            Interactive = Spectre.Console.InteractionSupport.Yes,
        });
        console.Profile.Width = 200;
        return console;
    }
}
