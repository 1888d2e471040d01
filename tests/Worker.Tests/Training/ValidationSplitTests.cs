using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;
using Adan.Sharded.Training;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// <c>val_split</c> holds the last N training samples out: training never draws them (its count ends before them,
/// then <c>train_subset</c> applies), validation returns exactly them, unaugmented even when training is augmented.
/// </summary>
public class ValidationSplitTests
{
    [Fact]
    public void TheLastNTrainingSamplesValidateAndAreNeverTrainedOn()
    {
        var config = new TrainConfig { Model = ModelKind.Mlp, ValSplit = 500, Augment = true, TestSubset = 10 };
        using var data = TrainingData.Load(config);
        using var raw = FashionMnist.LoadTrain(config.DataDir);
        Assert.Equal(raw.Count - 500, data.Train.Count);
        Assert.Equal(500, data.Validation!.Count);
        long[] first = [0, 499];
        long[] last = [raw.Count - 500, raw.Count - 1];
        var (vx, vy) = data.Validation.Batch(first);
        var (rx, ry) = raw.Batch(last);
        using (vx)
        using (vy)
        using (rx)
        using (ry)
        {
            Assert.True(vx.allclose(rx, 0, 0) && vy.eq(ry).all().item<bool>(), "validation is the last 500 raw training samples, unaugmented");
        }

        using var limited = TrainingData.Load(config with { TrainSubset = 1000 });
        Assert.Equal(1000, limited.Train.Count);
        Assert.NotNull(limited.TrainImages);
        using var whole = TrainingData.Load(config with { ValSplit = 0 });
        Assert.Null(whole.Validation);
    }
}
