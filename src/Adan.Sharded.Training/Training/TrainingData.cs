using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;

namespace Adan.Sharded.Training;

/// <summary>
/// The train and test sets a config names, the validation split held out of training (<c>val_split</c>), and the
/// model's vocabulary size.
/// </summary>
internal sealed class TrainingData : IDisposable
{
    private readonly IDisposable? _owner;

    private TrainingData(IBatchDataset train, IBatchDataset? test, int vocabularySize, ITrainingTask task, IDisposable? owner,
        IBatchDataset? validation = null)
    {
        Train = train;
        Validation = validation;
        Test = test;
        VocabularySize = vocabularySize;
        Task = task;
        _owner = owner;
    }

    public IBatchDataset Train { get; }

    /// <summary>The set scored once at the end (and during training when there is no validation set); null: none.</summary>
    public IBatchDataset? Test { get; }

    /// <summary>The image dataset training draws from (the trainer sets its augmentation's epoch); null for text.</summary>
    public ImageDataset? TrainImages => Train as ImageDataset ?? (Train as OwnedRange)?.Inner;

    /// <summary>The last <c>val_split</c> samples of the training set, never trained on and never augmented; null without a split.</summary>
    public IBatchDataset? Validation { get; }

    public int VocabularySize { get; }

    /// <summary>What the model learns from this data: next-token prediction for text, classification for images.</summary>
    public ITrainingTask Task { get; }

    /// <summary>An application's sets (see <see cref="TrainingJob"/>), which the run owns and disposes.</summary>
    /// <param name="train">The training set.</param>
    /// <param name="validation">Scored every <c>eval_every</c> steps and at the end; null: none.</param>
    /// <param name="test">Scored at the end; null: none.</param>
    /// <param name="task">The loss and the metrics.</param>
    public static TrainingData Of(IBatchDataset train, IBatchDataset? validation, IBatchDataset? test, ITrainingTask task) =>
        new(train, test, 0, task, null, validation);

    /// <summary>The sets the config's <c>dataset</c> keys name.</summary>
    public static TrainingData Load(TrainConfig config)
    {
        if (config.Dataset == DatasetKind.Text)
        {
            var corpus = TextCorpus.Load(config.TextFile, config.GptContext);
            return new TrainingData(Limit(corpus.Train, config.TrainSubset), Limit(corpus.Validation, config.TestSubset),
                corpus.Vocabulary.Size, new LanguageModelTask(), corpus);
        }
        if (config.ValSplit == 0)
        {
            var train = FashionMnist.LoadTrain(config.DataDir, config.TrainSubset);
            Augment(train, config);
            return new TrainingData(train, FashionMnist.LoadTest(config.DataDir, config.TestSubset), 0, new ClassificationTask(), null);
        }
        // Two loads of the training file: the training copy may be augmented, the validation copy never is.
        var all = FashionMnist.LoadTrain(config.DataDir);
        var heldOut = FashionMnist.LoadTrain(config.DataDir);
        if (config.ValSplit >= all.Count)
        {
            var count = all.Count;
            all.Dispose();
            heldOut.Dispose();
            throw new ConfigException($"Invalid val_split: {config.ValSplit}; the training set has {count} samples, so it must be below that (e.g. {count / 12}).");
        }
        Augment(all, config);
        var trainCount = all.Count - config.ValSplit;
        var limit = config.TrainSubset > 0 ? Math.Min(config.TrainSubset, trainCount) : trainCount;
        return new TrainingData(new OwnedRange(all, 0, limit), FashionMnist.LoadTest(config.DataDir, config.TestSubset), 0, new ClassificationTask(), null,
            new OwnedRange(heldOut, trainCount, config.ValSplit));
    }

    public void Dispose()
    {
        if (_owner is not null)
        {
            _owner.Dispose();
            return;
        }
        Train.Dispose();
        Test?.Dispose();
        Validation?.Dispose();
    }

    private static void Augment(ImageDataset train, TrainConfig config)
    {
        if (config.Augment)
        {
            train.Augmentation = new ImageAugmentation(config.Seed);
        }
    }

    private static IBatchDataset Limit(IBatchDataset data, int limit) => limit > 0 && limit < data.Count ? new LimitedDataset(data, limit) : data;

    /// <summary>Samples [start, start + count) of a dataset it owns, indexed from 0.</summary>
    private sealed class OwnedRange(ImageDataset inner, long start, long count) : IBatchDataset
    {
        /// <summary>The training copy keeps its augmentation reachable (the trainer sets its epoch).</summary>
        public ImageDataset Inner => inner;

        public long Count => count;

        public (TorchSharp.torch.Tensor Input, TorchSharp.torch.Tensor Target) Batch(ReadOnlySpan<long> indices)
        {
            if (start == 0)
            {
                return inner.Batch(indices);
            }
            var shifted = new long[indices.Length];
            for (var i = 0; i < indices.Length; i++)
            {
                shifted[i] = indices[i] + start;
            }
            return inner.Batch(shifted);
        }

        public void Dispose() => inner.Dispose();
    }

    /// <summary>The first <c>limit</c> samples of a dataset (for small runs); the inner dataset is owned elsewhere.</summary>
    private sealed class LimitedDataset(IBatchDataset inner, long limit) : IBatchDataset
    {
        public long Count => limit;

        public (TorchSharp.torch.Tensor Input, TorchSharp.torch.Tensor Target) Batch(ReadOnlySpan<long> indices) => inner.Batch(indices);

        public void Dispose()
        {
        }
    }
}
