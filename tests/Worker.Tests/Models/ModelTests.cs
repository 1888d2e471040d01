using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Models;

public class ModelTests
{
    /// <summary>Convolutions as the trainer runs them (onednn=false): oneDNN's backward is wrong on some CPUs (AMD Zen 5).</summary>
    public ModelTests() => Adan.Sharded.Tensors.OneDnn.Enabled = false;

    [Theory]
    [InlineData("mlp")]
    [InlineData("resnet")]
    [InlineData("vit")]
    public void ImageModelsMapImagesToTenLogits(string kind)
    {
        using var model = ModelFactory.Create(ConfigBinder.Bind(null, [$"model={kind}"]));
        using var input = torch.randn(3, 1, 28, 28);
        using var logits = model.forward(input);
        Assert.Equal(new long[] { 3, 10 }, logits.shape);
    }

    [Fact]
    public void VitAcceptsPatchFour()
    {
        using var model = ModelFactory.Create(new TrainConfig { Model = ModelKind.Vit, VitPatch = 4, VitEmbedding = 32, VitHeads = 2 });
        using var input = torch.randn(2, 1, 28, 28);
        using var logits = model.forward(input);
        Assert.Equal(new long[] { 2, 10 }, logits.shape);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GptMapsTokensToVocabularyLogits(bool tied)
    {
        var config = new TrainConfig { Model = ModelKind.Gpt, Dataset = DatasetKind.Text, GptContext = 16, GptLayers = 2, GptHeads = 2, GptEmbedding = 32, GptTiedHead = tied };
        using var model = ModelFactory.Create(config, vocabularySize: 50);
        using var input = torch.randint(0, 50, [4, 16], dtype: torch.int64);
        using var logits = model.forward(input);
        Assert.Equal(new long[] { 4, 16, 50 }, logits.shape);
        using var shorter = input.narrow(1, 0, 5);
        using var shortLogits = model.forward(shorter);
        Assert.Equal(new long[] { 4, 5, 50 }, shortLogits.shape);
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(!tied, names.Contains("head.weight"));
    }

    /// <summary>
    /// <c>Module.to</c> (a device or a dtype) replaces every parameter; a model that kept one in a field under another
    /// name than it is registered by (the position embeddings once did) would go on computing with the replaced tensor.
    /// After <c>to(float64)</c> every parameter must be float64 and receive a gradient from a float64 forward.
    /// </summary>
    [Theory]
    [InlineData("mlp")]
    [InlineData("resnet")]
    [InlineData("vit")]
    [InlineData("gpt")]
    public void AModelMovedWithToComputesWithTheMovedParameters(string kind)
    {
        var gpt = kind == "gpt";
        var config = ConfigBinder.Bind(null, gpt ? ["model=gpt", "dataset=text", "gpt_context=8", "gpt_layers=1", "gpt_heads=2", "gpt_embedding=16"] : [$"model={kind}"]);
        using var model = ModelFactory.Create(config, vocabularySize: 10);
        model.to(torch.float64);
        using var input = gpt ? torch.randint(0, 10, [2, 8], dtype: torch.int64) : torch.randn(2, 1, 28, 28, dtype: torch.float64);
        using var output = model.forward(input);
        Assert.Equal(torch.float64, output.dtype);
        using var loss = output.square().sum();
        loss.backward();
        foreach (var (name, parameter) in model.named_parameters())
        {
            Assert.Equal(torch.float64, parameter.dtype);
            Assert.True(parameter.grad is not null, $"{name} received no gradient after to(float64): the forward used another tensor");
        }
    }

    [Fact]
    public void GptIsCausal()
    {
        var config = new TrainConfig { Model = ModelKind.Gpt, Dataset = DatasetKind.Text, GptContext = 8, GptLayers = 1, GptHeads = 2, GptEmbedding = 16 };
        using var model = ModelFactory.Create(config, vocabularySize: 10);
        model.eval();
        using var a = torch.tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8 }, [1, 8]);
        using var b = torch.tensor(new long[] { 1, 2, 3, 4, 9, 9, 9, 9 }, [1, 8]);
        using var la = model.forward(a);
        using var lb = model.forward(b);
        using var prefixA = la.narrow(1, 0, 4);
        using var prefixB = lb.narrow(1, 0, 4);
        var difference = (prefixA - prefixB).abs().max().item<float>();
        Assert.True(difference < 1e-5f, $"positions before the change moved by {difference}");
    }

    [Fact]
    public void SameSeedGivesSameParametersInRegistrationOrder()
    {
        var config = new TrainConfig { Seed = 7 };
        using var first = ModelFactory.Create(config);
        using var second = ModelFactory.Create(config);
        var a = first.named_parameters().ToList();
        var b = second.named_parameters().ToList();
        Assert.Equal(a.Select(p => p.name), b.Select(p => p.name));
        for (var i = 0; i < a.Count; i++)
        {
            Assert.True(a[i].parameter.allclose(b[i].parameter, 0, 0), $"{a[i].name} differs between two constructions with one seed");
        }

        var names = a.Select(p => p.name).ToList();
        Assert.Equal("stem.weight", names[0]);
        Assert.Equal("stem_norm.weight", names[1]);
        Assert.Equal("blocks.0.conv1.weight", names[3]);
        Assert.Equal("head.bias", names[^1]);
        Assert.True(names.IndexOf("blocks.1.conv1.weight") < names.IndexOf("blocks.1.shortcut.weight"));

        using var other = ModelFactory.Create(config with { Seed = 8 });
        Assert.False(a[0].parameter.allclose(other.parameters().First(), 0, 0));
    }

    [Fact]
    public void BatchNormRunningStatisticsAreBuffersNotParameters()
    {
        using var model = ModelFactory.Create(new TrainConfig());
        var parameters = model.named_parameters().Select(p => p.name).ToList();
        var buffers = model.named_buffers().Select(b => b.name).ToList();
        Assert.DoesNotContain(parameters, name => name.Contains("running_"));
        Assert.Contains("stem_norm.running_mean", buffers);
        Assert.Contains("blocks.2.norm2.running_var", buffers);
    }

    [Fact]
    public void TransformerParametersAreRegisteredInConstructionOrder()
    {
        var config = new TrainConfig { Model = ModelKind.Gpt, Dataset = DatasetKind.Text, GptLayers = 1, GptHeads = 2, GptEmbedding = 16, GptContext = 8 };
        using var model = ModelFactory.Create(config, vocabularySize: 12);
        Assert.Equal(
            [
                // A module's own parameters come before its submodules', as in PyTorch.
                "position_embedding", "token_embedding.weight",
                "blocks.0.attention_norm.weight", "blocks.0.attention_norm.bias",
                "blocks.0.attention.qkv.weight", "blocks.0.attention.qkv.bias",
                "blocks.0.attention.projection.weight", "blocks.0.attention.projection.bias",
                "blocks.0.mlp_norm.weight", "blocks.0.mlp_norm.bias",
                "blocks.0.expand.weight", "blocks.0.expand.bias",
                "blocks.0.contract.weight", "blocks.0.contract.bias",
                "norm.weight", "norm.bias",
            ],
            model.named_parameters().Select(p => p.name));
    }

    [Fact]
    public void ResNetLearnsOneBatch()
    {
        using var model = ModelFactory.Create(new TrainConfig { ResnetWidth = 8 });
        using var input = torch.randn(16, 1, 28, 28);
        using var target = torch.randint(0, 10, [16], dtype: torch.int64);
        using var optimizer = torch.optim.Adam(model.parameters(), 1e-2);
        float first = 0, last = 0;
        for (var step = 0; step < 30; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(input), target);
            loss.backward();
            optimizer.step();
            last = loss.item<float>();
            if (step == 0)
            {
                first = last;
            }
        }
        Assert.True(last < first * 0.5f, $"loss went from {first} to {last}");
    }
}
