using Adan.Worker.Config;
using Adan.Worker.Data;

namespace Adan.Worker.Training;

/// <summary>The train and test (or validation) sets a config names, and the model's vocabulary size.</summary>
internal sealed class TrainingData : IDisposable
{
    private readonly IDisposable? _owner;

    private TrainingData(IBatchDataset train, IBatchDataset test, int vocabularySize, ITrainingTask task, IDisposable? owner)
    {
        Train = train;
        Test = test;
        VocabularySize = vocabularySize;
        Task = task;
        _owner = owner;
    }

    public IBatchDataset Train { get; }

    public IBatchDataset Test { get; }

    public int VocabularySize { get; }

    /// <summary>What the model learns from this data: next-token prediction for text, classification for images.</summary>
    public ITrainingTask Task { get; }

    public static TrainingData Load(TrainConfig config)
    {
        if (config.Dataset == DatasetKind.Text)
        {
            var corpus = TextCorpus.Load(config.TextFile, config.GptContext);
            return new TrainingData(Limit(corpus.Train, config.TrainSubset), Limit(corpus.Validation, config.TestSubset),
                corpus.Vocabulary.Size, new LanguageModelTask(), corpus);
        }
        var train = FashionMnist.LoadTrain(config.DataDir, config.TrainSubset);
        if (config.Augment)
        {
            train.Augmentation = new ImageAugmentation(config.Seed);
        }
        var test = FashionMnist.LoadTest(config.DataDir, config.TestSubset);
        return new TrainingData(train, test, 0, new ClassificationTask(), null);
    }

    public void Dispose()
    {
        if (_owner is not null)
        {
            _owner.Dispose();
            return;
        }
        Train.Dispose();
        Test.Dispose();
    }

    private static IBatchDataset Limit(IBatchDataset data, int limit) => limit > 0 && limit < data.Count ? new LimitedDataset(data, limit) : data;

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
