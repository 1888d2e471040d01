using System.CommandLine;
using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Sampling;
using Adan.Sharded.Zero;
using Adan.Worker.Commands;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Models;
using Adan.Sharded.Training;
using TorchSharp;

namespace Adan.Worker.Tests.Models;

/// <summary>
/// <c>adan checkpoint export</c> round-trips: the <c>config.json</c> beside the weights builds a fresh model of each
/// built-in architecture that, loaded from the export, gives the saved model's eval outputs exactly; the safetensors
/// file, read by a parser written from the format's specification, holds the model's values bit for bit; a checkpoint
/// written before architectures were recorded still exports, with a note.
/// </summary>
public sealed class ExportRoundTripTests : IDisposable
{
    /// <summary>Convolutions as the trainer runs them (onednn=false): oneDNN's backward is wrong on some CPUs (AMD Zen 5).</summary>
    public ExportRoundTripTests() => Adan.Sharded.Tensors.OneDnn.Enabled = false;

    private readonly string _root = Directory.CreateTempSubdirectory("adan-export-roundtrip-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Small models of each architecture; the GPT's vocabulary of 13 characters.</summary>
    public static TheoryData<string[], int> Architectures => new()
    {
        { ["model=mlp", "mlp_hidden=24"], 0 },
        { ["model=resnet", "resnet_width=4", "resnet_stages=2", "resnet_blocks=1"], 0 },
        { ["model=vit", "vit_patch=14", "vit_embedding=16", "vit_layers=1", "vit_heads=2"], 0 },
        { ["model=gpt", "dataset=text", "gpt_context=8", "gpt_layers=1", "gpt_heads=2", "gpt_embedding=16", "gpt_tied_head=false"], 13 },
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void AnExportBuildsAFreshModelWithTheSavedEvalOutputs(string[] keys, int vocabularySize)
    {
        var config = ConfigBinder.Bind(null, keys);
        using var saved = SaveTrained(config, vocabularySize, withArchitecture: true);
        using var input = Input(config, vocabularySize);
        saved.eval();
        using var expected = saved.forward(input);

        var weights = Path.Combine(_root, "export", "model.safetensors");
        Assert.Equal(0, Export(weights));

        var exported = JsonNode.Parse(File.ReadAllText(Path.Combine(_root, "export", ExportedModelConfig.FileName)))!.AsObject();
        Assert.Equal(ConfigBinder.Name(config.Model), exported["model"]!.GetValue<string>());
        Assert.Equal("model.safetensors", exported["weights"]!.GetValue<string>());
        Assert.Null(exported["note"]);
        var architecture = ModelArchitecture.FromJson(exported["architecture"]!.AsObject(), "config.json");
        using var fresh = architecture.Create();
        Load(fresh, MiniSafetensors.Read(weights));
        fresh.eval();
        using var actual = fresh.forward(input);

        var maxDifference = (actual - expected).abs().max().item<float>();
        Assert.True(maxDifference == 0, $"{config.Model}: eval outputs differ by up to {maxDifference}");
    }

    [Fact]
    public void TheSafetensorsFileHoldsTheModelsValuesBitForBit()
    {
        var config = ConfigBinder.Bind(null, ["model=resnet", "resnet_width=4", "resnet_stages=2"]);
        using var saved = SaveTrained(config, 0, withArchitecture: true);
        var weights = Path.Combine(_root, "export", "resnet.safetensors");
        Assert.Equal(0, Export(weights));

        var file = MiniSafetensors.Read(weights);
        var expected = saved.named_parameters().Select(p => (p.name, (torch.Tensor)p.parameter)).Concat(saved.named_buffers()).ToList();
        Assert.Equal(expected.Select(e => e.Item1).Order(StringComparer.Ordinal), file.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in expected)
        {
            var (dtype, shape, data) = file.Tensors[name];
            Assert.Equal(tensor.dtype == torch.ScalarType.Int64 ? "I64" : "F32", dtype);
            Assert.Equal(tensor.shape, shape);
            var bytes = tensor.contiguous().bytes.ToArray();
            var firstDifference = bytes.Zip(data).Select((pair, i) => (pair, i)).FirstOrDefault(x => x.pair.First != x.pair.Second, ((default, default), -1)).Item2;
            Assert.True(bytes.AsSpan().SequenceEqual(data), $"{name}: {data.Length} bytes in the file, {bytes.Length} in the model, first difference at byte {firstDifference}");
        }
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("5", file.Metadata["adan.step"]);
    }

    [Fact]
    public void ACheckpointWithoutARecordedArchitectureStillExportsWithANote()
    {
        var config = ConfigBinder.Bind(null, ["model=mlp", "mlp_hidden=8"]);
        using var saved = SaveTrained(config, 0, withArchitecture: false);
        var weights = Path.Combine(_root, "export", "old.safetensors");

        Assert.Equal(0, Export(weights));

        var exported = JsonNode.Parse(File.ReadAllText(Path.Combine(_root, "export", ExportedModelConfig.FileName)))!.AsObject();
        Assert.Equal("mlp", exported["model"]!.GetValue<string>());
        Assert.Null(exported["architecture"]);
        Assert.Contains("records no architecture", exported["note"]!.GetValue<string>());
        Assert.Contains("resolved-config.json", exported["note"]!.GetValue<string>());
        Assert.Equal(5, exported["step"]!.GetValue<long>());
        Assert.True(File.Exists(weights));
    }

    [Fact]
    public void AnInvalidRecordedArchitectureIsRefusedBeforeAnythingIsWritten()
    {
        var config = ConfigBinder.Bind(null, ["model=mlp", "mlp_hidden=8"]);
        using var saved = SaveTrained(config, 0, withArchitecture: true, tamper: extra => extra["architecture"]!["mlp_hidden"] = 0);
        var weights = Path.Combine(_root, "export", "bad.safetensors");

        Assert.Equal(ExitCodes.Failure, Export(weights));

        Assert.False(File.Exists(weights));
        Assert.False(File.Exists(Path.Combine(_root, "export", ExportedModelConfig.FileName)));
    }

    /// <summary>Builds the model, moves its weights (and a ResNet's running statistics) away from a fresh model's, and saves a checkpoint of step 5.</summary>
    private torch.nn.Module<torch.Tensor, torch.Tensor> SaveTrained(TrainConfig config, int vocabularySize, bool withArchitecture,
        Action<JsonObject>? tamper = null)
    {
        var architecture = ModelArchitecture.Of(config, vocabularySize);
        var model = architecture.Create();
        torch.manual_seed(1234);
        using (torch.no_grad())
        {
            foreach (var parameter in model.parameters())
            {
                parameter.add_(torch.randn_like(parameter) * 0.05);
            }
        }
        model.train();
        for (var i = 0; i < 2; i++)
        {
            using var batch = Input(config, vocabularySize);
            using var _ = model.forward(batch);
        }
        using var collective = new SingleProcessCollective();
        using var flat = FlatParameters.FromModule(model, 1);
        using var optimizer = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions());
        var extra = CheckpointExtra.Capture(architecture.ModelName, 1.0, 8, shuffle: true);
        if (withArchitecture)
        {
            CheckpointExtra.RecordArchitecture(extra, architecture);
        }
        tamper?.Invoke(extra);
        var progress = new TrainingProgress(5, new SamplerPosition(0, 5), new Dictionary<string, long>(), extra) { ModuleBuffers = ModelBuffers.Capture(model) };
        ShardedCheckpoint.SaveAsync(new LocalCheckpointCatalog(Path.Combine(_root, "checkpoints")), optimizer, collective, 5, progress).GetAwaiter().GetResult();
        return model;
    }

    private static torch.Tensor Input(TrainConfig config, int vocabularySize) =>
        config.Model == ModelKind.Gpt
            ? torch.randint(vocabularySize, [3, config.GptContext], dtype: torch.int64)
            : torch.randn(3, 1, 28, 28);

    private int Export(string weights)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(weights)!);
        var root = new RootCommand { CheckpointCommand.Create() };
        return CommandLineRunner.Run(root, ["checkpoint", "export", Path.Combine(_root, "checkpoints"), "--out", weights]);
    }

    private static void Load(torch.nn.Module model, MiniSafetensors file)
    {
        var loaded = 0;
        using (torch.no_grad())
        {
            foreach (var (name, tensor) in model.named_parameters().Select(p => (p.name, (torch.Tensor)p.parameter)).Concat(model.named_buffers()))
            {
                var (_, shape, data) = file.Tensors[name];
                Assert.Equal(tensor.shape, shape);
                tensor.bytes = data;
                loaded++;
            }
        }
        Assert.Equal(file.Tensors.Count, loaded);
    }
}
