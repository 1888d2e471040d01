using System.Diagnostics.Metrics;
using System.Text.Json;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Telemetry;

namespace Adan.Worker.Tests.Telemetry;

public class TelemetryTests
{
    [Fact]
    public void SummaryJsonHasSnakeCaseFieldsAndNullAccuracy()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var summary = new RunSummary(2, 940, 2.0, 0.2511, null, 1234.5, 301.2, "runs/x/checkpoints", "adan", 1) { Model = "gpt", GlobalBatch = 128 };

        var path = RunSummaryWriter.Write(Path.Combine(temp.Path, "run"), summary);

        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("world_size").GetInt32());
        Assert.Equal(940, root.GetProperty("steps").GetInt64());
        Assert.Equal(2.0, root.GetProperty("epochs").GetDouble());
        Assert.Equal(0.2511, root.GetProperty("final_loss").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("test_accuracy").ValueKind);
        Assert.Equal(1234.5, root.GetProperty("samples_per_second").GetDouble());
        Assert.Equal(301.2, root.GetProperty("wall_seconds").GetDouble());
        Assert.Equal("runs/x/checkpoints", root.GetProperty("checkpoint_dir").GetString());
        Assert.Equal("adan", root.GetProperty("optimizer").GetString());
        Assert.Equal(1, root.GetProperty("zero_stage").GetInt32());
        Assert.Equal(128, root.GetProperty("global_batch").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("test_loss").ValueKind);
        Assert.Equal(0, root.GetProperty("skipped_steps").GetInt64());
        Assert.Equal(summary, RunSummaryWriter.Read(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void SummaryKeepsAccuracyForClassification()
    {
        var json = RunSummaryWriter.ToJson(new RunSummary(1, 10, 1, 0.5, 0.91, 10, 1, null, "adamw", 0));
        Assert.Contains("\"test_accuracy\": 0.91", json);
    }

    [Fact]
    public void InstrumentsCarryTheDocumentedNamesUnitsAndTags()
    {
        var seen = new List<(string Name, string? Unit, string Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == WorkerTelemetry.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            lock (seen)
            {
                seen.Add((instrument.Name, instrument.Unit, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}"))));
            }
        }
        listener.SetMeasurementEventCallback<double>(Record);
        listener.SetMeasurementEventCallback<long>(Record);
        listener.Start();

        var metrics = new WorkerMetrics(rank: 3);
        metrics.Step(TimeSpan.FromMilliseconds(20), 64, 0.5, 1e-3, applied: false);
        metrics.Collective("all_gather", 4096, TimeSpan.FromMilliseconds(2));
        metrics.OptimizerState(1 << 20);
        metrics.Checkpoint(TimeSpan.FromSeconds(1));

        Assert.Contains(("adan.train.step.duration", "s", "rank=3"), seen);
        Assert.Contains(("adan.train.samples", "{sample}", "rank=3"), seen);
        Assert.Contains(("adan.train.skipped_steps", "{step}", "rank=3"), seen);
        Assert.Contains(seen, m => m.Name == "adan.train.loss" && m.Tags == "rank=3");
        Assert.Contains(seen, m => m.Name == "adan.train.lr" && m.Tags == "rank=3");
        Assert.Contains(("adan.comm.bytes", "By", "rank=3,collective=all_gather"), seen);
        Assert.Contains(("adan.comm.duration", "s", "rank=3,collective=all_gather"), seen);
        Assert.Contains(("adan.optimizer.state.bytes", "By", "rank=3"), seen);
        Assert.Contains(("adan.checkpoint.duration", "s", "rank=3"), seen);
        Assert.Equal(WorkerTelemetry.Name, WorkerTelemetry.ActivitySource.Name);
    }

    [Fact]
    public void ConsoleModeRecordsTheWorkersSpans()
    {
        using (TelemetrySetup.Start(TelemetryMode.Console, 0, otlpEndpoint: ""))
        {
            using var activity = WorkerTelemetry.ActivitySource.StartActivity("telemetry.test");
            Assert.NotNull(activity);
            Assert.True(activity.Recorded, "the console exporter's tracer must sample the worker's spans");
        }
    }

    [Fact]
    public void AnUnreachableCollectorDoesNotFailTheRun()
    {
        // Port 9 (discard) on loopback: nothing answers, as when a collector is down.
        var error = Record.Exception(() =>
        {
            using var providers = TelemetrySetup.Start(TelemetryMode.None, 0, otlpEndpoint: "http://127.0.0.1:9");
            using var activity = WorkerTelemetry.ActivitySource.StartActivity("telemetry.test");
            Assert.NotNull(activity);
        });
        Assert.Null(error);
    }
}
