using Adan.Sharded.Sampling;
using Adan.Sharded.Training.Data;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Data;

/// <summary>
/// <see cref="EnumerableDataset"/> serves, batch for batch and bit for bit, what the in-memory set of the same samples
/// serves under the trainer's in-order sampler (shuffle=false) on every rank, over epochs, an evaluation pass and a
/// resume at another world size with the same global batch, which continues with exactly the samples the
/// uninterrupted run takes; it re-enumerates only when it must, and a training loop over either set ends with the same
/// weights.
/// </summary>
public class EnumerableDatasetTests
{
    private const int Samples = 52;

    [Fact]
    public void EveryRanksBatchesEqualTheInMemorySetsOverEpochsAndAnEvaluation()
    {
        var (inputs, targets) = Data();
        using (inputs)
        using (targets)
        using (var memory = new TensorDataset(inputs, targets))
        {
            for (var rank = 0; rank < 2; rank++)
            {
                using var stream = Stream(inputs, targets);
                Assert.False(((IBatchDataset)stream).SupportsRandomAccess);
                var sampler = new DistributedSampler(Samples, rank, 2, batchSize: 4, seed: 7, shuffle: false);
                var steps = 3 * sampler.BatchesPerEpoch;
                for (var step = 0; step < steps; step++)
                {
                    var indices = sampler.Next(out _).ToArray();
                    // The trainer gathers a step's batch in micro-batches.
                    AssertSame(memory.Batch(indices.AsSpan(0, 2)), stream.Batch(indices.AsSpan(0, 2)), $"rank {rank} step {step}");
                    AssertSame(memory.Batch(indices.AsSpan(2, 2)), stream.Batch(indices.AsSpan(2, 2)), $"rank {rank} step {step}");
                }
                Assert.Equal(3, stream.Enumerations);
                // An evaluation pass over a contiguous slice in order: one more enumeration.
                long[] slice = [.. Enumerable.Range(10, 16).Select(i => (long)i)];
                AssertSame(memory.Batch(slice), stream.Batch(slice), $"rank {rank} evaluation");
                Assert.Equal(4, stream.Enumerations);
            }
        }
    }

    [Fact]
    public void AResumeAtAnotherWorldSizeContinuesWithTheUninterruptedRunsSamplesAfterReadingPastTheSeenOnes()
    {
        var (inputs, targets) = Data();
        using (inputs)
        using (targets)
        {
            // Uninterrupted: 2 ranks of 4 (global batch 8); the samples of steps 3..5 of epoch 1 over both ranks.
            var expected = new List<HashSet<long>>();
            var ranks = Enumerable.Range(0, 2).Select(r => new DistributedSampler(Samples, r, 2, 4, seed: 7, shuffle: false)).ToArray();
            foreach (var s in ranks)
            {
                s.Restore(new SamplerPosition(1, 3));
            }
            for (var step = 0; step < 3; step++)
            {
                expected.Add([.. ranks.SelectMany(s => s.Next(out _).ToArray())]);
            }

            // Resumed from the checkpoint's position on 1 rank of 8: the same samples, read from a fresh enumeration.
            using var stream = Stream(inputs, targets);
            var one = new DistributedSampler(Samples, 0, 1, 8, seed: 7, shuffle: false);
            one.Restore(new SamplerPosition(1, 3));
            using var memory = new TensorDataset(inputs, targets);
            for (var step = 0; step < 3; step++)
            {
                var indices = one.Next(out _).ToArray();
                Assert.Equal(expected[step], indices.ToHashSet());
                AssertSame(memory.Batch(indices), stream.Batch(indices), $"resumed step {step}");
            }
            Assert.Equal(1, stream.Enumerations);
            Assert.Equal(24, stream.Skipped);
        }
    }

    [Fact]
    public void TrainingOverTheStreamEndsWithTheWeightsOfTrainingOverTheInMemorySet()
    {
        var (inputs, targets) = Data();
        using (inputs)
        using (targets)
        using (var memory = new TensorDataset(inputs, targets))
        using (var stream = Stream(inputs, targets))
        {
            using var a = Train(memory);
            using var b = Train(stream);
            Assert.True(Same(a, b), $"max difference {(a - b).abs().max().item<float>()}");
        }
    }

    [Fact]
    public void AShortEnumerationOrAnOddSampleIsAnErrorNamingIt()
    {
        using var short_ = new EnumerableDataset(() => Enumerable.Range(0, 3).Select(_ => (zeros(2), zeros(1, dtype: int64))), count: 5);
        Assert.Contains("ended after 3 samples", Assert.Throws<InvalidDataException>(() => short_.Batch([4])).Message);
        using var odd = new EnumerableDataset(() => Enumerable.Range(0, 3).Select(i => (zeros(i == 0 ? 2 : 3), zeros(1, dtype: int64))), count: 3);
        Assert.Contains("sample 1 is Float32 [3]", Assert.Throws<InvalidDataException>(() => odd.Batch([0, 1])).Message);
    }

    [Fact]
    public void TheTrainerRefusesAForwardOnlySetWithShuffle()
    {
        using var stream = new EnumerableDataset(() => [], count: 1);
        var error = Assert.Throws<Adan.Sharded.Training.Config.ConfigException>(() => TrainingSetup.RequireOrder(stream, shuffle: true));
        Assert.Contains("set shuffle=false", error.Message);
        TrainingSetup.RequireOrder(stream, shuffle: false);
    }

    /// <summary>Three epochs of plain SGD on a linear model, in order; the final weights.</summary>
    private static Tensor Train(IBatchDataset data)
    {
        manual_seed(3);
        using var model = nn.Linear(3, 4);
        using var optimizer = optim.SGD(model.parameters(), 0.1);
        var sampler = new DistributedSampler(data.Count, 0, 1, 8, seed: 7, shuffle: false);
        for (var step = 0; step < 3 * sampler.BatchesPerEpoch; step++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = data.Batch(sampler.Next(out _));
            optimizer.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
            optimizer.step();
        }
        return model.weight!.detach().clone();
    }

    private static (Tensor Inputs, Tensor Targets) Data()
    {
        var generator = new TorchSharp.torch.Generator(11);
        return (randn(Samples, 3, generator: generator), randint(0, 4, [Samples], dtype: int64, generator: generator));
    }

    /// <summary>One sample per item, as views of the rows (the dataset disposes the views).</summary>
    private static EnumerableDataset Stream(Tensor inputs, Tensor targets) =>
        new(() => Enumerable.Range(0, Samples).Select(i => (inputs[i], targets[i])), Samples);

    private static void AssertSame((Tensor Input, Tensor Target) expected, (Tensor Input, Tensor Target) actual, string where)
    {
        Assert.True(Same(expected.Input, actual.Input), $"{where}: inputs differ");
        Assert.True(Same(expected.Target, actual.Target), $"{where}: targets differ");
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    /// <summary>The in-memory equivalent: random access by index_select.</summary>
    private sealed class TensorDataset(Tensor inputs, Tensor targets) : IBatchDataset
    {
        private Tensor? _x;
        private Tensor? _y;

        public long Count => inputs.shape[0];

        public (Tensor Input, Tensor Target) Batch(ReadOnlySpan<long> indices)
        {
            _x?.Dispose();
            _y?.Dispose();
            using var index = tensor(indices.ToArray());
            _x = inputs.index_select(0, index).DetachFromDisposeScope();
            _y = targets.index_select(0, index).DetachFromDisposeScope();
            return (_x, _y);
        }

        public void Dispose()
        {
            _x?.Dispose();
            _y?.Dispose();
        }
    }
}
