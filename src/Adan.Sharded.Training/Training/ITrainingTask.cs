using Adan.Sharded.Training.Data;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// What a model learns: the loss a training step differentiates and how an evaluation scores the model. The trainer
/// knows tasks only through this seam, so a new task is one class (<see cref="ClassificationTask"/> and
/// <see cref="LanguageModelTask"/> are the two there are).
/// </summary>
public interface ITrainingTask
{
    /// <summary>The mean loss of a batch, from the model's output and the batch's targets.</summary>
    Tensor Loss(Tensor output, Tensor target);

    /// <summary>
    /// This rank's evaluation sums over samples [<paramref name="start"/>, <paramref name="start"/> +
    /// <paramref name="count"/>) of <paramref name="data"/>; their element-wise sum over the ranks is what
    /// <see cref="Score"/> reads, so every rank returns the same number of sums.
    /// </summary>
    double[] EvaluationSums(nn.Module<Tensor, Tensor> model, IBatchDataset data, long start, long count);

    /// <summary>The evaluation's metrics from sums added over every rank.</summary>
    TaskScore Score(ReadOnlySpan<double> sums);
}
