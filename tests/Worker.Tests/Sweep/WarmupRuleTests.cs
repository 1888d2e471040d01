using System.Text.Json.Nodes;
using Adan.Worker.Commands.Sweep;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Tests.Sweep;

/// <summary>The warm-up rules of an optimizer's block: epochs, steps and LEGW with its floor, each capped as the trainer caps it.</summary>
public class WarmupRuleTests
{
    [Theory]
    // rule, batch, base_batch of the config, steps per epoch, total steps, expected warm-up steps
    [InlineData("""{"rule": "epochs", "epochs": 1}""", 512, 128, 117, 1170, 117)]
    [InlineData("""{"rule": "epochs", "epochs": 0.5}""", 8192, 128, 7, 70, 4)]
    [InlineData("""{"rule": "steps", "steps": 200}""", 512, 128, 117, 1170, 200)]
    [InlineData("""{"rule": "steps", "steps": 200}""", 8192, 128, 7, 70, 69)]
    // LEGW: 0.25 epoch at 256, so 1 epoch at 1024 (58 steps) and 8 epochs at 8192 capped at the last step but one.
    [InlineData("""{"rule": "legw", "epochs": 0.25, "base_batch": 256}""", 1024, 128, 58, 580, 58)]
    [InlineData("""{"rule": "legw", "epochs": 0.25, "base_batch": 256}""", 8192, 128, 7, 70, 56)]
    [InlineData("""{"rule": "legw", "epochs": 0.25, "base_batch": 256}""", 8192, 128, 7, 50, 49)]
    // The floor: 0.25 × 256/256 epoch of 4 steps per epoch is 1 step, raised to 50.
    [InlineData("""{"rule": "legw", "epochs": 0.25, "base_batch": 256, "min_steps": 50}""", 256, 128, 4, 400, 50)]
    // Without base_batch the rule is given at the config's base_batch (128): 0.5 × 512/128 = 2 epochs.
    [InlineData("""{"rule": "legw", "epochs": 0.5}""", 512, 128, 10, 100, 20)]
    public void EachRuleGivesItsStepsCappedBeforeTheLastStep(string json, int batch, int baseBatch, long stepsPerEpoch, long totalSteps, long expected) =>
        Assert.Equal(expected, WarmupRule.Parse(JsonNode.Parse(json), "sweep.json optimizers.adan").Steps(batch, baseBatch, stepsPerEpoch, totalSteps));

    [Theory]
    [InlineData("""{"rule": "cosine"}""", "Invalid warmup.rule 'cosine' in sweep.json optimizers.adan: valid rules are epochs | steps | legw.")]
    [InlineData("""{"epochs": 1}""", "Invalid warmup in sweep.json optimizers.adan: give an object with a \"rule\"")]
    [InlineData("""1""", "Invalid warmup in sweep.json optimizers.adan: give an object with a \"rule\"")]
    [InlineData("""{"rule": "steps", "epochs": 1}""", "Invalid key 'warmup.epochs' in sweep.json optimizers.adan: the steps rule takes steps.")]
    [InlineData("""{"rule": "steps", "steps": 2.5}""", "Invalid warmup.steps in sweep.json optimizers.adan: 2.5; give a whole number ≥ 0.")]
    [InlineData("""{"rule": "legw", "epochs": -1}""", "Invalid warmup.epochs in sweep.json optimizers.adan: -1; give a number ≥ 0")]
    [InlineData("""{"rule": "legw", "epochs": 1, "base_batch": 0}""", "Invalid warmup.base_batch in sweep.json optimizers.adan: 0; give a whole number ≥ 1.")]
    public void ABadRuleIsOneLineNamingTheKeyAndTheFix(string json, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => WarmupRule.Parse(JsonNode.Parse(json), "sweep.json optimizers.adan"));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
