using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Training.Models;

/// <summary>Creates the model a <see cref="TrainConfig"/> names.</summary>
internal static class ModelFactory
{
    /// <summary>
    /// Seeds torch with <see cref="TrainConfig.Seed"/> and builds the model, so every rank starts
    /// from identical weights without a broadcast. Parameters come out of
    /// <c>named_parameters()</c> in registration order, which the flat buffer layout relies on
    /// (a module's own parameters, such as a position embedding, precede its submodules', as in PyTorch).
    /// </summary>
    /// <param name="config">The run's configuration.</param>
    /// <param name="vocabularySize">The GPT's vocabulary size; ignored by the image models.</param>
    public static nn.Module<Tensor, Tensor> Create(TrainConfig config, int vocabularySize = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        torch.manual_seed(config.Seed);
        return config.Model switch
        {
            ModelKind.Mlp => new Mlp(FashionMnist.ImageSize * FashionMnist.ImageSize, config.MlpHidden, FashionMnist.Classes),
            ModelKind.Resnet => new ResNet(config.ResnetWidth, config.ResnetStages, config.ResnetBlocks, FashionMnist.Classes),
            ModelKind.Vit => new VisionTransformer(FashionMnist.ImageSize, config.VitPatch, config.VitEmbedding, config.VitLayers, config.VitHeads, FashionMnist.Classes),
            ModelKind.Gpt => vocabularySize > 0
                ? new Gpt(vocabularySize, config.GptContext, config.GptEmbedding, config.GptLayers, config.GptHeads, config.GptTiedHead)
                : throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, "The GPT needs the vocabulary size of its text."),
            _ => throw new ConfigException($"Invalid model: {config.Model}; valid choices are mlp | resnet | vit | gpt."),
        };
    }
}
