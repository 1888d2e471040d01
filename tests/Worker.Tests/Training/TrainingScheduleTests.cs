using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Flat;
using Adan.Sharded.Sampling;
using Adan.Sharded.Zero.Rules;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// The schedule a run trains with: sized by the epochs (never by max_steps), recorded in checkpoints in samples, and
/// continued by a resumed run at the samples the checkpoint had seen, whatever its world size or accumulation; and
/// hyper-parameters that differ from the checkpoint's listed and refused unless allowed.
/// </summary>
public class TrainingScheduleTests
{
    // 240 samples, 2 ranks × 6: global batch 12, 20 steps per epoch, 2 epochs = 40 steps; 10 of warm-up, then cosine.
    private static readonly TrainConfig s_config = With();

    private static DistributedSampler Sampler(int worldSize, int microBatch, int accumulation = 1) =>
        new(240, 0, worldSize, microBatch * accumulation, 42);

    /// <summary>What an uninterrupted run at W = 2 trains with.</summary>
    private static TrainingSchedule Original(TrainConfig? config = null) =>
        TrainingSchedule.Create(config ?? s_config, Sampler(2, 6), 2, resume: null, output: null);

    /// <summary>The manifest the original run saves after <paramref name="step"/> steps, as the trainer fills it, read back.</summary>
    private static CheckpointManifest Saved(long step, TrainConfig? config = null, bool recordSchedule = true)
    {
        var c = config ?? s_config;
        var extra = CheckpointExtra.Capture("mlp", 1.0, 12, c.Shuffle);
        var layout = new FlatLayoutDocument(1, 1, 2, 6, [new FlatLayoutDocument.Entry("fc.weight", [2, 2], 0, 4), new FlatLayoutDocument.Entry("fc.bias", [2], 4, 2)]);
        if (recordSchedule)
        {
            var original = Original(c);
            CheckpointExtra.RecordSchedule(extra, original.Record, original.SamplesBefore(step));
        }
        var manifest = new CheckpointManifest
        {
            Step = step,
            WorldSize = 2,
            Layout = layout,
            Tensors = ["param", .. AdanRule.Names],
            // The groups as the trainer builds them and the checkpoint writer records them.
            Optimizer = new CheckpointOptimizerState("adan", c.OptimizerOptions().MaxGradNorm, 0,
                [.. ParameterGroups.Of(c, layout.Parameters.Select(e => (e.Name, e.Shape)))
                    .Select(g => new CheckpointGroup(step, g.Parameters) { Options = OptimizerSections.ToJson(g.Options) })])
            {
                ParameterSteps = [step, step],
                State = [.. AdanRule.Names.Select(n => new CheckpointStateTensor(n, "F32", [3]))],
            },
            Sampler = new SamplerPosition(step / 20, step % 20),
            Extra = extra,
        };
        // Through text, as a resumed run reads it.
        return CheckpointManifest.Parse(manifest.ToJson(), "manifest.json");
    }

    private static ResumePlan Plan(CheckpointManifest manifest, DistributedSampler sampler) =>
        ResumePlan.Create($"/ckpt/step-{manifest.Step:D10}", manifest, sampler, s_config.Epochs);

    private static TrainConfig With(params string[] overrides) =>
        ConfigBinder.Load(null, ["epochs=2", "train_subset=240", "micro_batch=6", "warmup_steps=10", "schedule=cosine", "min_lr=0.0001", "resume=latest",
            "adan.lr=0.002", "adan.weight_decay=0.02", .. overrides]);

    [Fact]
    public void TheScheduleSpansTheConfiguredEpochsWhateverMaxSteps()
    {
        var original = Original();
        Assert.Equal(new ScheduleRecord(2e-3, Sharded.Schedules.LearningRateScaling.None, 128, Sharded.Schedules.LearningRateDecay.Cosine, 1e-4,
            10, 2, 240, 12, 120, 480), original.Record);
        Assert.Equal(original.Record, Original(With("max_steps=5")).Record);
        Assert.Equal(original.Record, Original(With("max_steps=1000")).Record);
        // A schedule shorter than the warm-up warms up for all but its last step (2 epochs of 240 in batches of 120: 4 steps).
        var shortRun = TrainingSchedule.Create(With("micro_batch=60"), Sampler(2, 60), 2, null, null);
        Assert.Equal(360, shortRun.Record.WarmupSamples);
        Assert.Equal(480, shortRun.Record.TotalSamples);
    }

    [Theory]
    [InlineData(7, 3, 4, 1)]    // W 2 -> 3 in the warm-up
    [InlineData(15, 1, 6, 2)]   // W 2 -> 1 with accumulation 2, in the cosine
    [InlineData(15, 2, 3, 2)]   // same W, accumulation 1 -> 2
    [InlineData(7, 2, 6, 1)]    // same W: a run continued with a larger max_steps does not warm up again
    public void AResumedRunContinuesTheOriginalCurve(long step, int worldSize, int microBatch, int accumulation)
    {
        var original = Original();
        var config = With($"micro_batch={microBatch}", $"accumulation={accumulation}", "max_steps=30");
        var output = new StringWriter();
        var resumed = TrainingSchedule.Create(config, Sampler(worldSize, microBatch, accumulation), worldSize,
            Plan(Saved(step), Sampler(worldSize, microBatch, accumulation)), output);

        Assert.Equal(original.Record, resumed.Record);
        Assert.Equal(step * 12, resumed.SamplesBefore(step));
        // Every later step of the same global batch, not only the first, gets the uninterrupted run's learning rate.
        for (var s = step; s < 40; s++)
        {
            Assert.Equal(original.LearningRateAt(s), resumed.LearningRateAt(s));
        }
        Assert.DoesNotContain("differ", output.ToString());
        Assert.Contains($"learning rate: continues at sample {step * 12} of the schedule's 480 (warm-up 120)", output.ToString());
    }

    [Fact]
    public void AnotherGlobalBatchIsRefusedWithoutTheOverride()
    {
        var output = new StringWriter();
        var error = Assert.Throws<CheckpointException>(() =>
            TrainingSchedule.Create(With("micro_batch=9"), Sampler(2, 9), 2, Plan(Saved(15), Sampler(2, 9)), output));
        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains("global_batch 12 -> 18 (2 rank(s) × micro_batch 9 × accumulation 1)", error.Message);
        Assert.Contains("--set allow_hparam_change=true", error.Message);
        Assert.Contains("  global_batch: checkpoint 12, this run 18", output.ToString());
    }

    [Fact]
    public void AnAllowedGlobalBatchChangeKeepsTheShapeAndTheLearningRateAtTheSampleCount()
    {
        var original = Original();
        var output = new StringWriter();
        var resumed = TrainingSchedule.Create(With("micro_batch=9", "allow_hparam_change=true"), Sampler(2, 9), 2, Plan(Saved(15), Sampler(2, 9)), output);
        Assert.Equal(original.Record, resumed.Record);
        // The first resumed step starts at sample 180, where the original run's step 15 started.
        Assert.Equal(original.LearningRateAt(15), resumed.LearningRateAt(15));
        // Then 18 samples a step: step 17 starts at sample 216 = 18 original steps.
        Assert.Equal(original.LearningRateAt(18), resumed.LearningRateAt(17));
        Assert.Contains("schedule keeps the checkpoint's shape", output.ToString());
    }

    [Fact]
    public void ChangedHyperParametersAreListedOneALineAndRefusedTogether()
    {
        var output = new StringWriter();
        var config = With("adan.betas=[0.9,0.92,0.99]", "adan.eps=1e-6", "adan.weight_decay=0.05", "adan.no_prox=true", "adan.max_grad_norm=1", "warmup_steps=20",
            "adan.lr=0.003", "epochs=3");
        var error = Assert.Throws<CheckpointException>(() => TrainingSchedule.Create(config, Sampler(2, 6), 2, Plan(Saved(7), Sampler(2, 6)), output));
        string[] expected =
        [
            "adan.betas: checkpoint [0.98,0.92,0.99], this run [0.9,0.92,0.99]",
            "adan.eps: checkpoint 1E-08, this run 1E-06",
            "adan.weight_decay: checkpoint 0.02, this run 0.05",
            "adan.no_prox: checkpoint false, this run true",
            "adan.max_grad_norm: checkpoint 0, this run 1",
            "adan.lr: checkpoint 0.002, this run 0.003",
            "warmup_steps: checkpoint 10, this run 20",
            "epochs: checkpoint 2, this run 3",
        ];
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal("hyper-parameters that differ from the checkpoint's (8):", lines[0]);
        Assert.Equal(expected.Select(e => "  " + e), lines[1..]);
        Assert.StartsWith("this run changes 8 hyper-parameter(s) of the checkpoint it resumes (/ckpt/step-0000000007): adan.betas [0.98,0.92,0.99] -> [0.9,0.92,0.99]; adan.eps", error.Message);
    }

    [Fact]
    public void AnotherSampleOrderIsAChangeButNotForACheckpointThatDoesNotRecordIt()
    {
        var output = new StringWriter();
        var error = Assert.Throws<CheckpointException>(() =>
            TrainingSchedule.Create(With("shuffle=false"), Sampler(2, 6), 2, Plan(Saved(7), Sampler(2, 6)), output));
        Assert.Equal(["hyper-parameters that differ from the checkpoint's (1):", "  shuffle: checkpoint true, this run false"],
            output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray());
        Assert.Contains("shuffle true -> false", error.Message);

        // A checkpoint from before the key: every run shuffled then, and nothing is compared.
        var older = Saved(7);
        older.Extra.Remove("shuffle");
        output = new StringWriter();
        TrainingSchedule.Create(With("shuffle=false"), Sampler(2, 6), 2, Plan(older, Sampler(2, 6)), output);
        Assert.DoesNotContain("differ", output.ToString());
    }

    [Fact]
    public void NoDecayGroupsAreComparedGroupByGroup()
    {
        // Two groups: fc.bias without weight decay, then fc.weight with the section's.
        var config = With("no_decay_bias_norm=true");
        var output = new StringWriter();
        TrainingSchedule.Create(config, Sampler(2, 6), 2, Plan(Saved(7, config), Sampler(2, 6)), output);
        Assert.DoesNotContain("differ", output.ToString());

        var changed = With("no_decay_bias_norm=true", "adan.weight_decay=0.05");
        output = new StringWriter();
        Assert.Throws<CheckpointException>(() => TrainingSchedule.Create(changed, Sampler(2, 6), 2, Plan(Saved(7, config), Sampler(2, 6)), output));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(["hyper-parameters that differ from the checkpoint's (1):", "  adan.weight_decay: checkpoint 0.02, this run 0.05"], lines);
    }

    [Fact]
    public void AnAllowedScheduleChangeRebuildsTheScheduleAtTheSamplesSeen()
    {
        var resumed = TrainingSchedule.Create(With("warmup_steps=20", "allow_hparam_change=true"), Sampler(2, 6), 2, Plan(Saved(7), Sampler(2, 6)),
            output: null);
        Assert.Equal(240, resumed.Record.WarmupSamples);
        Assert.Equal(84, resumed.SamplesBefore(7));
        Assert.Equal(2e-3 * 8 / 20, resumed.LearningRateAt(7));
    }

    [Fact]
    public void ACheckpointWithoutARecordedScheduleResumesOnThisRunsScheduleAtItsSampleCount()
    {
        // As written before schedules were recorded: only the global batch in extra.
        var output = new StringWriter();
        var resumed = TrainingSchedule.Create(s_config, Sampler(2, 6), 2, Plan(Saved(7, recordSchedule: false), Sampler(2, 6)), output);
        Assert.Equal(Original().Record, resumed.Record);
        Assert.Equal(84, resumed.SamplesBefore(7));
        Assert.Equal(Original().LearningRateAt(7), resumed.LearningRateAt(7));
        Assert.Contains("the checkpoint records no schedule", output.ToString());
    }

    [Fact]
    public void TheRecordRoundTripsThroughTheManifestAndAnInvalidOneIsRefused()
    {
        var manifest = CheckpointManifest.Parse(Saved(7).ToJson(), "m");
        var extra = CheckpointExtra.Of(manifest.Extra);
        Assert.Equal(84, extra.SamplesSeen);
        Assert.Equal(Original().Record, extra.Schedule("m"));
        Assert.Null(CheckpointExtra.Of(JsonNode.Parse("""{"global_batch":12}""")!.AsObject()).Schedule("m"));
        Assert.Null(CheckpointExtra.Of(null).SamplesSeen);

        var broken = Original().Record.ToJson();
        broken["warmup_samples"] = 125;
        var error = Assert.Throws<CheckpointException>(() => CheckpointExtra.Of(new JsonObject { ["schedule"] = broken }).Schedule("m"));
        Assert.Contains("m: the recorded learning-rate schedule is not valid", error.Message);
    }
}
