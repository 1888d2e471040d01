using Adan.Sharded.Training;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The number of training samples a config trains on, found the way the trainer finds it (the same files, the same
/// <c>train_subset</c> cut), so that the sweep can turn epochs into steps before a run starts.
/// </summary>
internal static class TrainSetSize
{
    /// <summary>
    /// Fashion-MNIST: the length of the training labels file (60 KB, read instead of the 47 MB of images) less the
    /// <c>val_split</c> held out of training, as <c>TrainingData</c> cuts it; text: the training windows of the corpus.
    /// Either capped by <c>train_subset</c>.
    /// </summary>
    /// <exception cref="DatasetNotFoundException">The data is not where the config says.</exception>
    /// <exception cref="UsageException">The validation split holds out the whole training set.</exception>
    public static long Of(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        long count;
        if (config.Dataset == DatasetKind.Text)
        {
            using var corpus = TextCorpus.Load(config.TextFile, config.GptContext);
            count = corpus.Train.Count;
        }
        else if (config.Dataset == DatasetKind.Tokens)
        {
            using var data = TrainingData.Load(config);
            count = data.Train.Count;
        }
        else
        {
            count = IdxFile.Read(FashionMnist.Resolve(config.DataDir, "train-labels-idx1-ubyte"), maxItems: 1).DeclaredItems;
            if (config.ValSplit >= count)
            {
                throw new UsageException($"--val-split {config.ValSplit}: the training set has {count} samples; hold out fewer (e.g. {count / 12})");
            }
            // The trainer holds the split out of the whole file and then applies train_subset to what is left.
            count -= config.ValSplit;
        }
        return config.TrainSubset > 0 ? Math.Min(config.TrainSubset, count) : count;
    }

    /// <summary>
    /// Optimizer steps per epoch, as the trainer's sampler counts them: each rank gets <c>⌊N / W⌋</c> samples and
    /// drops the last partial batch.
    /// </summary>
    public static long StepsPerEpoch(long trainSamples, int worldSize, BatchDecomposition batch) =>
        trainSamples / worldSize / ((long)batch.MicroBatch * batch.Accumulation);
}
