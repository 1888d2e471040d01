using Adan.Sharded.Training.Data;
using Adan.Sharded.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// The two tasks behind the trainer's task seam: the training loss is the reference cross-entropy of each, and
/// evaluation sums of the ranks' slices add up to the sums of the whole set, which score as the reference metrics.
/// </summary>
public class TrainingTaskTests
{
    [Fact]
    public void ClassificationScoresAccuracyAndMeanLossFromTheRanksSums()
    {
        ITrainingTask task = new ClassificationTask();
        using var data = new ImageDataset(Enumerable.Range(0, 6 * 4).Select(i => (byte)(i * 7 % 251)).ToArray(), [0, 1, 2, 3, 4, 5], 2, 2,
            mean: 0, std: 1);
        manual_seed(3);
        using var model = nn.Sequential(("flatten", nn.Flatten()), ("linear", nn.Linear(4, 6)));

        var whole = task.EvaluationSums(model, data, 0, 6);
        var rank0 = task.EvaluationSums(model, data, 0, 4);
        var rank1 = task.EvaluationSums(model, data, 4, 2);
        var reduced = rank0.Zip(rank1, (a, b) => a + b).ToArray();

        var expected = Evaluation.Classify(model, data, 0, 6);
        var score = task.Score(reduced);
        Assert.Equal(whole.Length, reduced.Length);
        Assert.Equal(expected.Accuracy, score.Accuracy);
        Assert.Equal(expected.MeanLoss, score.Loss, 5);
        Assert.Equal($"test accuracy {expected.Accuracy:P2}, test loss {score.Loss:F4}", score.Description);
    }

    [Fact]
    public void TheLanguageModelLossIsTheCrossEntropyOfEveryPosition()
    {
        ITrainingTask task = new LanguageModelTask();
        manual_seed(4);
        using var logits = randn(2, 3, 5);
        using var targets = randint(0, 5, [2, 3]);

        using var loss = task.Loss(logits, targets);
        using var reference = nn.functional.cross_entropy(logits.reshape(6, 5), targets.reshape(6));

        Assert.Equal(reference.item<float>(), loss.item<float>());
        var score = task.Score([12.0, 4.0]);
        Assert.Null(score.Accuracy);
        Assert.Equal(3.0, score.Loss);
        Assert.Equal($"validation loss {3.0:F4} (perplexity {Math.Exp(3.0):F2})", score.Description);
    }

    [Fact]
    public void TheLanguageModelSumsEveryTokenOfTheSlice()
    {
        ITrainingTask task = new LanguageModelTask();
        using var data = new TextDataset([1, 2, 3, 4, 5, 6, 7], context: 3);
        using var model = new Adan.Sharded.Training.Models.Gpt(vocabularySize: 8, context: 3, dimension: 8, layers: 1, heads: 2);

        var sums = task.EvaluationSums(model, data, 0, data.Count);

        var expected = Evaluation.LanguageModel(model, data, 0, data.Count);
        Assert.Equal([expected.LossSum, expected.Tokens], sums);
    }
}
