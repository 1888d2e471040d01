using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// An application trains through <see cref="TrainingJob"/> on an <see cref="EnumerableDataset"/> exactly (bit for bit)
/// as on the in-memory set of the same samples with shuffle=false, also when the streamed run stops at a checkpoint
/// and resumes (reading past the samples already trained on); with shuffle on, the forward-only set is refused.
/// </summary>
public sealed class StreamingJobTests : IDisposable
{
    private const int Samples = 256;
    private readonly string _root = Directory.CreateTempSubdirectory("adan-streaming-job-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void AStreamedRunEqualsTheInMemoryRunAlsoAfterAResume()
    {
        var memory = Run(Options("memory"), () => new TensorSet(Samples, seed: 1));
        Assert.Equal(32, memory.Steps);

        var streamed = Run(Options("stream"), () => Stream(seed: 1));
        Assert.True(memory.FinalLoss == streamed.FinalLoss, $"final loss: stream {streamed.FinalLoss:R}, memory {memory.FinalLoss:R}");
        Assert.True(memory.Test!.Loss == streamed.Test!.Loss, $"test loss: stream {streamed.Test.Loss:R}, memory {memory.Test.Loss:R}");

        var stopped = Run(Options("resumed", "max_steps=12"), () => Stream(seed: 1));
        Assert.Equal(12, stopped.Steps);
        EnumerableDataset? opened = null;
        var resumed = Run(Options("resumed", "resume=latest"), () => opened = Stream(seed: 1), keep: true);
        Assert.True(memory.FinalLoss == resumed.FinalLoss, $"final loss: resumed stream {resumed.FinalLoss:R}, memory {memory.FinalLoss:R}");
        Assert.True(memory.Test!.Loss == resumed.Test!.Loss, $"test loss: resumed stream {resumed.Test.Loss:R}, memory {memory.Test.Loss:R}");
        // The rest of epoch 1 after reading past its first 12 batches of 16, then epoch 2.
        Assert.Equal(2, opened!.Enumerations);
        Assert.Equal(12 * 16, opened.Skipped);
        opened.Dispose();
    }

    [Fact]
    public void AForwardOnlySetWithShuffleIsRefused()
    {
        var error = Assert.Throws<ConfigException>(() => Run(Options("shuffled", "shuffle=true"), () => Stream(seed: 1)));
        Assert.Contains("set shuffle=false", error.Message);
    }

    private TrainingOptions Options(string runDir, params string[] more) => TrainingOptions.Create(
    [
        "optimizer=adan", "adan.lr=0.01", "micro_batch=16", "epochs=2", "checkpoint_every=6", "async_checkpoint=false", "shuffle=false",
        "threads=1", $"run_dir={Path.Combine(_root, runDir)}", .. more,
    ]);

    /// <summary>Trains on <paramref name="train"/>; with <paramref name="keep"/> the set is the caller's to inspect and dispose.</summary>
    private static TrainingResult Run(TrainingOptions options, Func<IBatchDataset> train, bool keep = false) =>
        new TrainingJob(options, () => nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)), new ClassificationTask(),
            keep ? () => new Borrowed(train()) : train)
        {
            Test = () => new TensorSet(64, seed: 3),
            Output = TextWriter.Null,
        }.Run();

    /// <summary>The samples of <see cref="TensorSet"/>, one per item, read forward.</summary>
    private static EnumerableDataset Stream(int seed) => new(() => Items(seed), Samples);

    private static IEnumerable<(Tensor, Tensor)> Items(int seed)
    {
        var (x, y) = TensorSet.Make(Samples, seed);
        using (x)
        using (y)
        {
            for (var i = 0; i < Samples; i++)
            {
                yield return (x[i], y[i]);
            }
        }
    }

    /// <summary>Points whose class is the index of their largest feature among the first three, random access.</summary>
    private sealed class TensorSet(int count, int seed) : IBatchDataset
    {
        private readonly (Tensor X, Tensor Y) _data = Make(count, seed);
        private Tensor? _x;
        private Tensor? _y;

        public static (Tensor X, Tensor Y) Make(int count, int seed)
        {
            using var generator = new Generator((ulong)seed);
            var x = randn([count, 6], generator: generator).DetachFromDisposeScope();
            return (x, x.narrow(1, 0, 3).argmax(1).DetachFromDisposeScope());
        }

        public long Count => count;

        public (Tensor Input, Tensor Target) Batch(ReadOnlySpan<long> indices)
        {
            _x?.Dispose();
            _y?.Dispose();
            using var index = tensor(indices.ToArray());
            _x = _data.X.index_select(0, index).DetachFromDisposeScope();
            _y = _data.Y.index_select(0, index).DetachFromDisposeScope();
            return (_x.alias(), _y.alias());
        }

        public void Dispose()
        {
            _data.X.Dispose();
            _data.Y.Dispose();
            _x?.Dispose();
            _y?.Dispose();
        }
    }

    /// <summary>A set the run uses but does not dispose, so that the test can read its counters after the run.</summary>
    private sealed class Borrowed(IBatchDataset inner) : IBatchDataset
    {
        public long Count => inner.Count;

        public bool SupportsRandomAccess => inner.SupportsRandomAccess;

        public (Tensor Input, Tensor Target) Batch(ReadOnlySpan<long> indices) => inner.Batch(indices);

        public void Dispose()
        {
        }
    }
}
