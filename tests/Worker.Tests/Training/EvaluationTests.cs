using Adan.Sharded.Training.Data;
using Adan.Sharded.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Training;

public class EvaluationTests
{
    /// <summary>Predicts class = the first pixel's raw value, with logits 0 elsewhere and 10 there.</summary>
    private sealed class FirstPixelClassifier : nn.Module<Tensor, Tensor>
    {
        public FirstPixelClassifier()
            : base(nameof(FirstPixelClassifier))
        {
        }

        public override Tensor forward(Tensor input)
        {
            using var first = input.flatten(1).select(1, 0).round().to(torch.int64);
            using var hot = nn.functional.one_hot(first, 10);
            return hot.to(torch.float32) * 10;
        }
    }

    [Fact]
    public void ClassifyReturnsLocalSumsAndRestoresTrainingMode()
    {
        // Five 2x2 images whose first pixel is 0..4; labels agree for samples 0, 1, 3.
        var pixels = new byte[5 * 4];
        for (var i = 0; i < 5; i++)
        {
            pixels[i * 4] = (byte)i;
        }
        using var data = new ImageDataset(pixels, [0, 1, 7, 3, 8], 2, 2, mean: 0, std: 1 / 255f);
        using var model = new FirstPixelClassifier();
        model.train();

        var all = Evaluation.Classify(model, data, 0, 5, batchSize: 2);
        var part = Evaluation.Classify(model, data, 1, 3, batchSize: 2) + Evaluation.Classify(model, data, 0, 1) + Evaluation.Classify(model, data, 4, 1);

        Assert.Equal(3, all.Correct);
        Assert.Equal(5, all.Samples);
        Assert.Equal(0.6, all.Accuracy, 6);
        Assert.Equal(all.Correct, part.Correct);
        Assert.Equal(all.LossSum, part.LossSum, 3);
        Assert.True(model.training);
        Assert.Equal(0, Evaluation.Classify(model, data, 5, 0).Samples);
        Assert.Throws<ArgumentOutOfRangeException>(() => Evaluation.Classify(model, data, 3, 3));
    }

    [Fact]
    public void LanguageModelCountsEveryToken()
    {
        using var data = new TextDataset([1, 2, 3, 4, 5, 6, 7], context: 3);
        using var model = new Adan.Sharded.Training.Models.Gpt(vocabularySize: 8, context: 3, dimension: 8, layers: 1, heads: 2);

        var metrics = Evaluation.LanguageModel(model, data, 0, data.Count, batchSize: 3);

        Assert.Equal(12, metrics.Tokens);
        Assert.InRange(metrics.MeanLoss, Math.Log(8) - 1, Math.Log(8) + 1);
        Assert.Equal(Math.Exp(metrics.MeanLoss), metrics.Perplexity, 6);
    }

    [Theory]
    [InlineData(10, 3)]
    [InlineData(2, 4)]
    [InlineData(10_000, 2)]
    public void ShardsCoverEverySampleOnce(long total, int worldSize)
    {
        var covered = new List<long>();
        for (var rank = 0; rank < worldSize; rank++)
        {
            var (start, count) = Evaluation.Shard(total, rank, worldSize);
            covered.AddRange(Enumerable.Range(0, (int)count).Select(i => start + i));
            Assert.InRange(count, total / worldSize, total / worldSize + 1);
        }
        Assert.Equal(Enumerable.Range(0, (int)total).Select(i => (long)i), covered);
    }
}
