using System.Text.Json;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Telemetry;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Training;

public class RunSummaryBuilderTests
{
    /// <summary>A clock that moves only when told to.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    private sealed class FixedOptimizer(long skippedSteps) : ITrainingOptimizer
    {
        public string Name => "adamw";

        public long StateBytes => 800;

        public ShardedOptimizer Sharded => throw new NotSupportedException("the summary reads no engine");

        public long SkippedSteps => skippedSteps;

        public TimeSpan LastCommunication => TimeSpan.Zero;

        public TimeSpan LastCommunicationBusy => TimeSpan.Zero;

        public void SetLearningRate(double lr)
        {
        }

        public bool Step(int microBatches) => true;

        public void Dispose()
        {
        }
    }

    [Fact]
    public void SharesThroughputCheckpointsSkippedStepsAndGradientPeakAreSummarised()
    {
        var clock = new ManualClock();
        var builder = new RunSummaryBuilder(clock);
        clock.Advance(TimeSpan.FromSeconds(5));
        builder.Resumed("/ckpt/step_00000010");
        builder.StartTraining();
        Assert.Equal(0, builder.SamplesPerSecond);
        for (var i = 0; i < 4; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            // 0.5 s forward/backward, 0.5 s in the optimizer of which 0.2 s waiting for communication that was in flight
            // 0.45 s (0.25 s of it hidden behind backward).
            builder.Step(TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(0.45), samples: 32);
        }
        Assert.Equal(32, builder.SamplesPerSecond, 9);
        builder.Saved(new SavedCheckpoint("/ckpt/step_00000014", 1000, TimeSpan.FromSeconds(0.25)));
        builder.Saved(new SavedCheckpoint("/ckpt/step_00000015", 1000, TimeSpan.FromSeconds(0.5)));
        builder.EndTraining();
        builder.PeakGradientBytes(12_345_678);
        clock.Advance(TimeSpan.FromSeconds(3));

        var summary = builder.Build(worldSize: 2, steps: 15, batchesPerEpoch: 10, finalLoss: 0.5, evaluation: (0.9, 0.3), model: "mlp",
            globalBatch: 32, new FixedOptimizer(skippedSteps: 2), zeroStage: 0, savesCheckpoints: true);

        Assert.Equal(1.5, summary.Epochs);
        Assert.Equal(32, summary.SamplesPerSecond, 9);
        Assert.Equal(12, summary.WallSeconds, 9);
        Assert.Equal(0.5, summary.ForwardBackwardShare);
        Assert.Equal(0.2, summary.CommunicationShare);
        Assert.Equal(1.8, summary.CommunicationBusySeconds);
        Assert.Equal(0.3, summary.OptimizerShare);
        Assert.Equal("/ckpt/step_00000010", summary.ResumedFrom);
        Assert.Equal("/ckpt/step_00000015", summary.CheckpointDir);
        Assert.Equal("/ckpt/step_00000015", builder.LastCheckpoint);
        Assert.Equal(2, summary.CheckpointsSaved);
        Assert.Equal(0.75, summary.CheckpointSeconds);
        Assert.Equal(2, summary.SkippedSteps);
        Assert.Equal(12_345_678, summary.PeakGradientBytes);
        using var json = JsonDocument.Parse(RunSummaryWriter.ToJson(summary));
        Assert.Equal(12_345_678, json.RootElement.GetProperty("peak_gradient_bytes").GetInt64());
        Assert.Equal(("adamw", 800L, 0.9, 0.3), (summary.Optimizer, summary.OptimizerStateBytes, summary.TestAccuracy, summary.TestLoss));
    }

    [Fact]
    public void ARunWithoutCheckpointsOrStepsHasNullCheckpointAndGradientPeakFieldsAndZeroSkipped()
    {
        var builder = new RunSummaryBuilder(new ManualClock());
        builder.StartTraining();
        builder.EndTraining();

        var summary = builder.Build(worldSize: 1, steps: 0, batchesPerEpoch: 10, finalLoss: double.NaN, evaluation: (null, 2.0), model: "gpt",
            globalBatch: 8, new FixedOptimizer(skippedSteps: 0), zeroStage: 0, savesCheckpoints: false);

        Assert.Equal(0, summary.SamplesPerSecond);
        Assert.Equal(0, summary.ForwardBackwardShare);
        Assert.Null(summary.CheckpointsSaved);
        Assert.Null(summary.CheckpointSeconds);
        Assert.Null(summary.CheckpointDir);
        using var json = JsonDocument.Parse(RunSummaryWriter.ToJson(summary));
        Assert.Equal(0, json.RootElement.GetProperty("skipped_steps").GetInt64());
        // Not measured (no step after the first): present and null, not a guess.
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("peak_gradient_bytes").ValueKind);
    }
}
