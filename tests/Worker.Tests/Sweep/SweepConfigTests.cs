using Adan.Sharded.Zero;
using Adan.Worker.Commands.Sweep;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Tests.Sweep;

/// <summary>
/// The sweep file's optimizer blocks: their section keys become the run's optimizer section, their other keys override
/// the base, and the config.json a run is started with binds as <c>adan train</c> binds it.
/// </summary>
public class SweepConfigTests
{
    private const string Text = """
        { "base": { "model": "mlp", "base_batch": 32, "min_lr": 0.0001 },
          "optimizers": { "adan": { "lr": 0.004, "betas": [0.98, 0.92, 0.99], "resume": "none" }, "lamb": { "lr": 0.01 } } }
        """;

    [Fact]
    public void ABlocksSectionKeysAreTheOptimizersSectionAndItsOtherKeysOverrideTheBase()
    {
        var sweep = SweepConfig.Parse(Text, "sweep.json");
        var merged = sweep.Merged("adan");
        Assert.Equal("""{"model":"mlp","base_batch":32,"min_lr":0.0001,"resume":"none","optimizer":"adan","adan":{"lr":0.004,"betas":[0.98,0.92,0.99]}}""",
            merged.ToJsonString());

        // As the run's config.json, read back by adan train.
        var config = ConfigBinder.Bind(merged.ToJsonString(), source: "config.json");
        Assert.Equal(new AdanGroupOptions { LearningRate = 0.004 }, config.OptimizerOptions());
        Assert.Equal("none", config.Resume);
        // LAMB's runs get timm's defaults but for the block's lr.
        Assert.Equal(new LambGroupOptions { LearningRate = 0.01 }, ConfigBinder.Bind(sweep.Merged("lamb").ToJsonString()).OptimizerOptions());
    }

    [Theory]
    [InlineData("""{ "base": { "adan": { "lr": 0.1 } }, "optimizers": { "adan": {} } }""",
        "Invalid key 'adan' in sweep.json base: adan's settings go in its block, optimizers.adan")]
    [InlineData("""{ "optimizers": { "adan": { "lamb": { "lr": 0.1 } } } }""",
        "Invalid key 'lamb' in sweep.json optimizers.adan: lamb's settings go in its block, optimizers.lamb")]
    public void AnOptimizerSectionOutsideItsBlockIsRefused(string text, string expected) =>
        Assert.StartsWith(expected, Assert.Throws<ConfigException>(() => SweepConfig.Parse(text, "sweep.json")).Message);

    [Fact]
    public void AnOldFlatKeyInABlockIsRefusedByTheBinderWithTheSectionKey()
    {
        var sweep = SweepConfig.Parse("""{ "optimizers": { "adamw": { "beta1": 0.9 } } }""", "sweep.json");
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Bind(sweep.Merged("adamw").ToJsonString(), source: sweep.SectionName("adamw")));
        Assert.StartsWith("Invalid key 'beta1' in sweep.json optimizers.adamw: optimizer settings live in the optimizer's section; use adamw.betas", e.Message);
    }

    [Theory]
    [InlineData("sweep-fashion-mlp.json")]
    [InlineData("sweep-fashion-mini.json")]
    public void EveryBlockOfTheShippedSweepFilesBinds(string file)
    {
        var sweep = SweepConfig.Load(Path.Combine(TestFiles.RepoRoot, "deploy", "configs", file));
        var clipping = new List<string>();
        foreach (var optimizer in OptimizerRegistry.Names.Where(sweep.HasSection))
        {
            var config = ConfigBinder.Bind(sweep.Merged(optimizer).ToJsonString(), source: sweep.SectionName(optimizer));
            Assert.Equal(optimizer, config.Optimizer);
            Assert.True(config.Sections.Contains(optimizer));
            // Fair by construction: every block sets its clipping itself, and to the same value.
            Assert.True(sweep.Merged(optimizer)[optimizer]!.AsObject().ContainsKey("max_grad_norm"), $"{file}: {optimizer} does not set max_grad_norm");
            clipping.Add(OptimizerSections.ToJson(config.OptimizerOptions())["max_grad_norm"]!.ToJsonString());
        }
        Assert.Single(clipping.Distinct());
    }
}
