using System.CommandLine;
using System.Text.Json.Nodes;
using Adan.Sharded.Collectives;
using Adan.Worker.Commands;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Models;
using Adan.Sharded.Training.Telemetry;
using Adan.Worker.Tests.Telemetry;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// A small training run in this process, on one rank: <c>tensorboard_dir</c> gets every <c>metrics.jsonl</c> record
/// with the same values, and its checkpoint records the architecture that the export's <c>config.json</c> carries.
/// </summary>
public sealed class TrainerRecordsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-trainer-records-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task TensorBoardGetsTheMetricsRecordsAndTheCheckpointItsArchitecture()
    {
        var runDir = Path.Combine(_root, "run");
        // 16 steps of 16 samples (accumulation 2, so the noise scale is measured), a record every 4, validation every 8.
        var config = ConfigBinder.Bind(null,
        [
            "model=mlp", "mlp_hidden=16", "train_subset=256", "test_subset=64", "val_split=64", "epochs=1", "micro_batch=8", "accumulation=2",
            "log_every=4", "eval_every=8", "checkpoint_every=16", "async_checkpoint=false", "warmup_steps=2", "threads=1", $"run_dir={runDir}",
            "tensorboard_dir=tb",
        ]);
        using (var collective = new SingleProcessCollective())
        {
            await new Trainer(config, collective, TextWriter.Null, new RankAbort(0, 1, inJob: false, TextWriter.Null), 1, false).RunAsync();
        }

        var metrics = Path.Combine(runDir, MetricsLog.FileName);
        var expected = new List<(long, string, float)>();
        foreach (var line in MetricsLog.ReadLines(metrics).Lines)
        {
            var record = JsonNode.Parse(line)!.AsObject();
            if (record["kind"]!.GetValue<string>() == MetricsLog.CheckpointKind)
            {
                // What a save measured is for adan launch's --preempt-grace, not a curve to plot.
                continue;
            }
            var step = record["step"]!.GetValue<long>();
            var (prefix, fields) = record["kind"]!.GetValue<string>() == MetricsLog.StepKind
                ? ("", new[] { ("train", "loss"), ("train", "lr"), ("train", "grad_norm"), ("train", "samples_per_second"), ("noise", "b_simple"), ("noise", "trace_sigma"), ("noise", "grad_sq_norm") })
                : (record["split"]!.GetValue<string>(), new[] { ("", "loss"), ("", "accuracy"), ("", "perplexity") });
            foreach (var (group, field) in fields)
            {
                if (record[field] is { } value)
                {
                    expected.Add((step, $"{(group.Length > 0 ? group : prefix)}/{field}", (float)value.GetValue<double>()));
                }
            }
        }
        Assert.Contains(expected, e => e.Item2 == "noise/trace_sigma");
        Assert.Contains(expected, e => e.Item2 == "val/accuracy");
        Assert.Contains(expected, e => e.Item2 == "test/loss");
        Assert.Equal([16L], MetricsLog.ReadCheckpoints(metrics).Select(c => c.Step));

        var (version, scalars) = TfEventReader.Read(Assert.Single(Directory.GetFiles(Path.Combine(runDir, "tb"))));
        Assert.Equal("brain.Event:2", version);
        Assert.Equal(expected, scalars.Select(s => (s.Step, s.Tag, s.Value)));

        var weights = Path.Combine(_root, "export", "model.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(weights)!);
        Assert.Equal(0, CommandLineRunner.Run(new RootCommand { CheckpointCommand.Create() }, ["checkpoint", "export", config.ResolvedCheckpointDir, "--out", weights]));
        var exported = JsonNode.Parse(File.ReadAllText(Path.Combine(_root, "export", ExportedModelConfig.FileName)))!.AsObject();
        Assert.Equal(ModelArchitecture.Of(config, 0).ToJson().ToJsonString(), exported["architecture"]!.ToJsonString());
        Assert.Equal(16, exported["architecture"]!["mlp_hidden"]!.GetValue<int>());
        Assert.Equal(16, exported["step"]!.GetValue<long>());
    }
}
