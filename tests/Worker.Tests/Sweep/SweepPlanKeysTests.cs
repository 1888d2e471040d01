using Adan.Sharded.Schedules;
using Adan.Worker.Commands.Sweep;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Tests.Sweep;

/// <summary>
/// The planner's own keys in an optimizer's block (<c>lr_scaling</c>, <c>warmup</c>): they override the flags for that
/// optimizer alone, never reach the run's config, and are refused in the base; and a learning-rate grid scales the
/// section's lr so that the trainer's peak is the rule-scaled peak times the multiplier.
/// </summary>
public class SweepPlanKeysTests
{
    private const string Text = """
        { "base": { "model": "mlp", "train_subset": 512, "base_batch": 32 },
          "optimizers": { "adan": { "lr": 0.004, "lr_scaling": "linear", "warmup": { "rule": "steps", "steps": 5 } }, "adamw": { "lr": 0.002 } } }
        """;

    private static readonly SweepSettings s_settings = new([128], ["adan", "adamw"], LearningRateScaling.Sqrt, 1, 1, 128, 1);

    [Fact]
    public void AnOptimizersScalingAndWarmupOverrideTheFlagsForItAlone()
    {
        var runs = SweepPlanner.Plan(SweepConfig.Parse(Text, "sweep.json"), s_settings);
        var (adan, adamw) = (runs.Single(r => r.Optimizer == "adan"), runs.Single(r => r.Optimizer == "adamw"));
        // 512 samples in batches of 128: 4 steps. adan: linear ×4 and 5 warm-up steps capped at 3; adamw: sqrt ×2 and 1 epoch (4 steps, capped at 3).
        Assert.Equal(0.016, adan.PeakLr, 12);
        Assert.Contains("lr_policy=linear", adan.Overrides);
        Assert.Equal(0.004, adamw.PeakLr, 12);
        Assert.Contains("lr_policy=sqrt", adamw.Overrides);
        Assert.DoesNotContain("lr_scaling", adan.Config);
        Assert.DoesNotContain("\"warmup\"", adan.Config);
        Assert.Equal(3, adan.WarmupSteps);
        Assert.Equal(LearningRateScaling.Linear, ConfigBinder.Bind(adan.Config, adan.Overrides).LrPolicy);
    }

    [Fact]
    public void AGridScalesTheSectionsLrSoThatThePeakIsTheRuleScaledPeakTimesTheMultiplier()
    {
        var settings = s_settings with { LrGrid = [0.5, 2], Seeds = 2, ValSplit = 100 };
        var runs = SweepPlanner.Plan(SweepConfig.Parse(Text, "sweep.json"), settings);
        Assert.Equal(["128-adan-lr0.5-seed0", "128-adan-lr0.5-seed1", "128-adan-lr2-seed0", "128-adan-lr2-seed1",
            "128-adamw-lr0.5-seed0", "128-adamw-lr0.5-seed1", "128-adamw-lr2-seed0", "128-adamw-lr2-seed1"], runs.Select(r => r.Name));
        var adamw = runs.Where(r => r.Optimizer == "adamw" && r.SeedIndex == 0).ToList();
        Assert.Equal(0.004 * 0.5, adamw[0].PeakLr, 12);
        Assert.Equal(0.004 * 2, adamw[1].PeakLr, 12);
        foreach (var run in runs)
        {
            var config = ConfigBinder.Bind(run.Config, run.Overrides);
            var peak = new LearningRateSchedule
            {
                BaseLearningRate = config.OptimizerOptions().LearningRate, BaseBatchSize = config.BaseBatch, Scaling = config.LrPolicy,
                WorldSize = 1, MicroBatchSize = config.MicroBatch, AccumulationSteps = config.Accumulation,
            }.PeakLearningRate;
            Assert.Equal(run.PeakLr, peak);
        }
    }

    [Theory]
    [InlineData("""{ "base": { "warmup": { "rule": "steps", "steps": 1 } }, "optimizers": { "adan": {} } }""",
        "Invalid key 'warmup' in sweep.json base: set it per optimizer in its block (optimizers.<name>.warmup), or for every optimizer with --warmup-epochs.")]
    [InlineData("""{ "optimizers": { "adan": { "lr_scaling": "cubic" } } }""",
        "Invalid lr_scaling in sweep.json optimizers.adan: \"cubic\"; valid values are")]
    [InlineData("""{ "optimizers": { "adan": { "warmup": { "rule": "cosine" } } } }""",
        "Invalid warmup.rule 'cosine' in sweep.json optimizers.adan: valid rules are epochs | steps | legw.")]
    public void ABadPlannerKeyIsRefusedWhereItIs(string text, string expected) =>
        Assert.StartsWith(expected, Assert.Throws<ConfigException>(() => SweepConfig.Parse(text, "sweep.json")).Message);
}
