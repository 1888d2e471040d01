using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Sampling;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Models;
using Adan.Sharded.Training;
using TorchSharp;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// A ResNet checkpoint, exported and loaded back through the project's own safetensors reader into a freshly built
/// model, gives the saved model's eval-mode outputs exactly: the export holds the BatchNorm running statistics, which
/// the checkpoint keeps in its hashed buffers file.
/// </summary>
public sealed class ResNetExportTests : IDisposable
{
    /// <summary>Convolutions as the trainer runs them (onednn=false): oneDNN's backward is wrong on some CPUs (AMD Zen 5).</summary>
    public ResNetExportTests() => Adan.Sharded.Tensors.OneDnn.Enabled = false;

    private readonly string _root = Directory.CreateTempSubdirectory("adan-resnet-export-").FullName;

    [Fact]
    public async Task AnExportedResNetReproducesTheEvalOutputs()
    {
        using var collective = new SingleProcessCollective();
        torch.manual_seed(11);
        using var model = new ResNet(width: 4, stages: 2, blocksPerStage: 1, classes: 3);
        using var input = torch.randn(5, 1, 28, 28);
        // Train-mode passes move the running statistics away from their initial (0, 1).
        model.train();
        for (var i = 0; i < 3; i++)
        {
            using var batch = torch.randn(8, 1, 28, 28) * 2 + 0.5;
            using var _ = model.forward(batch);
        }
        using var flat = FlatParameters.FromModule(model, 1);
        using var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions());
        var progress = new TrainingProgress(1, new SamplerPosition(0, 1), new Dictionary<string, long>(), CheckpointExtra.Capture("resnet", 1.0, 8, shuffle: true))
        {
            ModuleBuffers = ModelBuffers.Capture(model),
        };
        var manifest = await ShardedCheckpoint.SaveAsync(new LocalCheckpointCatalog(_root), adan, collective, 1, progress);
        Assert.NotNull(manifest.ModuleBuffers);
        Assert.True(CheckpointVerifier.Verify(_root).Ok);
        model.eval();
        using var expected = model.forward(input);

        var output = Path.Combine(_root, "resnet.safetensors");
        CheckpointExporter.Export(_root, output);

        torch.manual_seed(99);
        using var fresh = new ResNet(width: 4, stages: 2, blocksPerStage: 1, classes: 3);
        using var exported = SafetensorsFile.Open(output);
        var loaded = 0;
        using (torch.no_grad())
        {
            foreach (var (name, tensor) in fresh.named_parameters().Select(p => (p.name, (torch.Tensor)p.parameter)).Concat(fresh.named_buffers()))
            {
                var t = exported.Tensor(name);
                Assert.Equal(tensor.shape, t.Shape);
                var bytes = new byte[t.End - t.Begin];
                exported.ReadBytes(name, bytes);
                tensor.bytes = bytes;
                loaded++;
            }
        }
        Assert.Equal(exported.Tensors.Count, loaded);
        fresh.eval();
        using var actual = fresh.forward(input);

        var maxDifference = (actual - expected).abs().max().item<float>();
        Assert.True(maxDifference == 0, $"eval outputs differ by up to {maxDifference}");
        Assert.Contains(exported.Tensors.Keys, k => k.EndsWith("running_var", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
