using System.Text.Json;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// The trainer library's public entry point as an application uses it: its own model, task and in-memory data set,
/// options as key=value, one rank in this process. A run that stops and resumes from its checkpoint ends bit for bit
/// where an uninterrupted run ends; the records name the application's model; bad arguments are one-line errors.
/// </summary>
public sealed class TrainingJobTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-training-job-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>An application's model: two linear layers, called through <c>call</c>.</summary>
    private sealed class TwoLayers : nn.Module<Tensor, Tensor>
    {
        private readonly Linear _hidden = nn.Linear(Features, 16);
        private readonly Linear _out = nn.Linear(16, Classes);

        public TwoLayers() : base(nameof(TwoLayers)) => RegisterComponents();

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            return _out.call(nn.functional.relu(_hidden.call(input))).MoveToOuterDisposeScope();
        }
    }

    private const int Features = 6;
    private const int Classes = 3;

    /// <summary>An application's data: points whose class is the index of their largest feature among the first three.</summary>
    private sealed class Points(int count, int seed) : IBatchDataset
    {
        private readonly Tensor _x = MakeFeatures(count, seed);
        private Tensor? _batchX;
        private Tensor? _batchY;

        private static Tensor MakeFeatures(int count, int seed)
        {
            using var generator = new Generator((ulong)seed);
            return randn([count, Features], generator: generator).DetachFromDisposeScope();
        }

        public long Count => count;

        public (Tensor Input, Tensor Target) Batch(ReadOnlySpan<long> indices)
        {
            using var index = tensor(indices.ToArray());
            _batchX?.Dispose();
            _batchY?.Dispose();
            _batchX = _x.index_select(0, index).DetachFromDisposeScope();
            _batchY = _batchX.narrow(1, 0, Classes).argmax(1).DetachFromDisposeScope();
            return (_batchX.alias(), _batchY.alias());
        }

        public void Dispose()
        {
            _x.Dispose();
            _batchX?.Dispose();
            _batchY?.Dispose();
        }
    }

    private TrainingOptions Options(string runDir, params string[] more) => TrainingOptions.Create(
    [
        "optimizer=adan", "adan.lr=0.01", "micro_batch=16", "epochs=2", "checkpoint_every=6", "async_checkpoint=false", "eval_every=6",
        "threads=1", "log_every=1", $"run_dir={Path.Combine(_root, runDir)}", .. more,
    ]);

    private static TrainingResult Run(TrainingOptions options) =>
        new TrainingJob(options, () => new TwoLayers(), new ClassificationTask(), () => new Points(256, seed: 1))
        {
            Validation = () => new Points(64, seed: 2),
            Test = () => new Points(64, seed: 3),
            ModelName = "two-layers",
            Output = TextWriter.Null,
        }.Run();

    [Fact]
    public void AResumedRunOfTheApplicationsModelEndsBitwiseLikeAnUninterruptedOne()
    {
        var uninterrupted = Run(Options("whole"));
        Assert.Equal(0, uninterrupted.ExitCode);
        Assert.False(uninterrupted.Preempted);
        Assert.Equal(32, uninterrupted.Steps);
        Assert.NotNull(uninterrupted.Validation);
        Assert.NotNull(uninterrupted.Test);
        // Chance is 1/3.
        Assert.True(uninterrupted.Test!.Accuracy > 0.5, $"test accuracy {uninterrupted.Test.Accuracy}: the model did not learn");

        var first = Run(Options("split", "max_steps=12"));
        Assert.Equal(12, first.Steps);
        var resumed = Run(Options("split", "resume=latest"));
        Assert.Equal(32, resumed.Steps);
        Assert.Equal(uninterrupted.FinalLoss, resumed.FinalLoss);
        Assert.Equal(uninterrupted.Test.Loss, resumed.Test!.Loss);
        Assert.Equal(uninterrupted.Validation!.Accuracy, resumed.Validation!.Accuracy);

        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(resumed.RunDirectory, "summary.json"))).RootElement;
        Assert.Equal("two-layers", summary.GetProperty("model").GetString());
        Assert.EndsWith("step-0000000012", summary.GetProperty("resumed_from").GetString());
        var manifest = CheckpointManifest.Read(resumed.LastCheckpoint!);
        Assert.Equal(32, manifest.Step);
        Assert.Equal("two-layers", manifest.Extra["model"]!.GetValue<string>());
        Assert.False(manifest.Extra.ContainsKey("architecture"), "an application's model has no built-in architecture to record");
    }

    [Fact]
    public void WithoutEvaluationSetsTheRunTrainsAndReportsNoScores()
    {
        var result = new TrainingJob(Options("train-only", "max_steps=4"), () => new TwoLayers(), new ClassificationTask(), () => new Points(128, seed: 1))
        {
            Output = TextWriter.Null,
        }.Run();

        Assert.Equal(4, result.Steps);
        Assert.Null(result.Validation);
        Assert.Null(result.Test);
        Assert.True(double.IsFinite(result.FinalLoss));
    }

    [Fact]
    public void OptionsComeFromAConfigFileAndSetArgumentsAsAdanTrainTakesThem()
    {
        var file = Path.Combine(_root, "config.json");
        File.WriteAllText(file, """{ "micro_batch": 8, "optimizer": "lamb" }""");

        var options = TrainingOptions.FromArgs(["--config", file, "--set", "micro_batch=4", "--set=seed=11"]);

        Assert.Equal(4, options.MicroBatch);
        Assert.Equal(11, options.Seed);
        Assert.Contains("\"optimizer\": \"lamb\"", options.ToJson());
        Assert.Equal(9, options.With("micro_batch=9").MicroBatch);
        Assert.Equal(4, options.MicroBatch);
    }

    [Theory]
    [InlineData(new[] { "--epochs", "3" }, "Unknown argument '--epochs': a training program's options are --config FILE and --set key=value")]
    [InlineData(new[] { "--set" }, "--set needs a value: --set key=value.")]
    [InlineData(new[] { "--set", "micro_batch=0" }, "micro_batch")]
    [InlineData(new[] { "--config", "a.json", "--config", "b.json" }, "--config is given twice")]
    public void BadArgumentsAreOneLineConfigErrors(string[] args, string message)
    {
        var error = Assert.Throws<ConfigException>(() => TrainingOptions.FromArgs(args));
        Assert.Contains(message, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
