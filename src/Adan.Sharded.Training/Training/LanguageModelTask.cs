using Adan.Sharded.Training.Data;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// Next-token prediction (the GPT): cross-entropy of every position's logits ([B, T, V]) against the next tokens
/// ([B, T]); mean loss per token and perplexity, no accuracy.
/// </summary>
public sealed class LanguageModelTask : ITrainingTask
{
    /// <inheritdoc />
    public Tensor Loss(Tensor output, Tensor target) => nn.functional.cross_entropy(output.flatten(0, 1), target.flatten());

    /// <inheritdoc />
    /// <remarks>Two sums: summed loss, tokens.</remarks>
    public double[] EvaluationSums(nn.Module<Tensor, Tensor> model, IBatchDataset data, long start, long count)
    {
        var metrics = Evaluation.LanguageModel(model, data, start, count);
        return [metrics.LossSum, metrics.Tokens];
    }

    /// <inheritdoc />
    public TaskScore Score(ReadOnlySpan<double> sums)
    {
        var metrics = new LanguageModelMetrics(sums[0], (long)sums[1]);
        return new TaskScore(null, metrics.MeanLoss, $"validation loss {metrics.MeanLoss:F4} (perplexity {metrics.Perplexity:F2})", metrics.Perplexity);
    }
}
