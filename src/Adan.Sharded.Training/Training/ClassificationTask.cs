using Adan.Sharded.Training.Data;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>Classification (the image models): cross-entropy of the logits against the labels; accuracy and mean loss.</summary>
public sealed class ClassificationTask : ITrainingTask
{
    /// <inheritdoc />
    public Tensor Loss(Tensor output, Tensor target) => nn.functional.cross_entropy(output, target);

    /// <inheritdoc />
    /// <remarks>Three sums: correct predictions, samples, summed loss.</remarks>
    public double[] EvaluationSums(nn.Module<Tensor, Tensor> model, IBatchDataset data, long start, long count)
    {
        var metrics = Evaluation.Classify(model, data, start, count);
        return [metrics.Correct, metrics.Samples, metrics.LossSum];
    }

    /// <inheritdoc />
    public TaskScore Score(ReadOnlySpan<double> sums)
    {
        var metrics = new ClassificationMetrics((long)sums[0], (long)sums[1], sums[2]);
        return new TaskScore(metrics.Accuracy, metrics.MeanLoss, $"test accuracy {metrics.Accuracy:P2}, test loss {metrics.MeanLoss:F4}");
    }
}
