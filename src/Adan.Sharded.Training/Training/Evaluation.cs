using Adan.Sharded.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>
/// Evaluates a model on a range of samples and returns local sums only, so the caller can
/// all-reduce them across ranks (each rank evaluating its own slice of the test set).
/// </summary>
internal static class Evaluation
{
    /// <summary>
    /// Classification sums over samples <c>[start, start + count)</c> of <paramref name="data"/>,
    /// in batches of <paramref name="batchSize"/>, with the model in eval mode and no gradients;
    /// the model's training mode is restored afterwards.
    /// </summary>
    public static ClassificationMetrics Classify(nn.Module<Tensor, Tensor> model, IBatchDataset data, long start, long count, int batchSize = 500)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        CheckRange(data, start, count, batchSize);
        var result = default(ClassificationMetrics);
        Run(model, data, start, count, batchSize, (logits, target) =>
        {
            using var loss = nn.functional.cross_entropy(logits, target, reduction: nn.Reduction.Sum);
            using var predicted = logits.argmax(1);
            using var hits = predicted.eq(target);
            using var correct = hits.sum();
            result += new ClassificationMetrics(correct.item<long>(), target.shape[0], loss.item<float>());
        });
        return result;
    }

    /// <summary>
    /// Next-token sums over windows <c>[start, start + count)</c> of <paramref name="data"/>: the
    /// model maps <c>[B, T]</c> tokens to <c>[B, T, V]</c> logits and every position is scored.
    /// </summary>
    public static LanguageModelMetrics LanguageModel(nn.Module<Tensor, Tensor> model, IBatchDataset data, long start, long count, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        CheckRange(data, start, count, batchSize);
        var result = default(LanguageModelMetrics);
        Run(model, data, start, count, batchSize, (logits, target) =>
        {
            using var flatLogits = logits.flatten(0, 1);
            using var flatTarget = target.flatten();
            using var loss = nn.functional.cross_entropy(flatLogits, flatTarget, reduction: nn.Reduction.Sum);
            result += new LanguageModelMetrics(loss.item<float>(), flatTarget.shape[0]);
        });
        return result;
    }

    /// <summary>
    /// The slice <c>(start, count)</c> of <paramref name="total"/> samples that rank
    /// <paramref name="rank"/> of <paramref name="worldSize"/> evaluates: contiguous, sizes
    /// differing by at most one, together covering every sample exactly once.
    /// </summary>
    public static (long Start, long Count) Shard(long total, int rank, int worldSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(worldSize);
        if ((uint)rank >= (uint)worldSize)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"Rank must be in [0, {worldSize}).");
        }
        var start = total * rank / worldSize;
        var end = total * (rank + 1) / worldSize;
        return (start, end - start);
    }

    private static void Run(nn.Module<Tensor, Tensor> model, IBatchDataset data, long start, long count, int batchSize, Action<Tensor, Tensor> accumulate)
    {
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            // Batches are assembled in host memory and moved to the model's device.
            var device = model.parameters().FirstOrDefault()?.device ?? CPU;
            var indices = new long[Math.Min(batchSize, Math.Max(count, 1))];
            for (var offset = 0L; offset < count; offset += indices.Length)
            {
                var size = (int)Math.Min(indices.Length, count - offset);
                for (var i = 0; i < size; i++)
                {
                    indices[i] = start + offset + i;
                }
                using var scope = torch.NewDisposeScope();
                var (input, target) = data.Batch(indices.AsSpan(0, size));
                if (device.type != DeviceType.CPU)
                {
                    (input, target) = (input.to(device), target.to(device));
                }
                // call, not forward: under bf16-mixed the model's hooks cast its input and output.
                var logits = model.call(input);
                accumulate(logits, target);
            }
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static void CheckRange(IBatchDataset data, long start, long count, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (start < 0 || count < 0 || start + count > data.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"Samples [{start}, {start + count}) are outside [0, {data.Count}).");
        }
    }
}
