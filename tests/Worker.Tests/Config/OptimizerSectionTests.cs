using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Tests.Config;

/// <summary>
/// The optimizer sections (<c>adan</c>, <c>lamb</c>, <c>adamw</c>, <c>sgd</c>): each bound to the library's options
/// record with its reference's defaults, set by dotted <c>--set</c> keys, kept and validated when not chosen; and the
/// flat optimizer keys of earlier configs refused with the section key to use.
/// </summary>
public class OptimizerSectionTests
{
    [Fact]
    public void EachOptimizerWithoutASectionTrainsWithItsReferencesDefaults()
    {
        foreach (var name in OptimizerRegistry.Names)
        {
            var options = ConfigBinder.Bind(null, [$"optimizer={name}"]).OptimizerOptions();
            Assert.Equal(OptimizerRegistry.Get(name).DefaultOptions(), options);
        }
        // timm's Lamb, not Adan's betas and eps as the flat keys gave every optimizer.
        var lamb = Assert.IsType<LambGroupOptions>(ConfigBinder.Bind("""{ "optimizer": "lamb" }""").OptimizerOptions());
        Assert.Equal((1e-3, 0.9, 0.999, 1e-6, 0.01, 1.0), (lamb.LearningRate, lamb.Beta1, lamb.Beta2, lamb.Eps, lamb.WeightDecay, lamb.MaxGradNorm));
        var adamw = Assert.IsType<AdamWGroupOptions>(ConfigBinder.Bind(null, ["optimizer=adamw"]).OptimizerOptions());
        Assert.Equal((0.9, 0.999, 1e-8, 0.01, 0.0), (adamw.Beta1, adamw.Beta2, adamw.Eps, adamw.WeightDecay, adamw.MaxGradNorm));
        var adan = Assert.IsType<AdanGroupOptions>(new TrainConfig().OptimizerOptions());
        Assert.Equal((1e-3, 0.98, 0.92, 0.99, 1e-8, 0.0), (adan.LearningRate, adan.Beta1, adan.Beta2, adan.Beta3, adan.Eps, adan.WeightDecay));
        var sgd = Assert.IsType<SgdGroupOptions>(ConfigBinder.Bind(null, ["optimizer=sgd"]).OptimizerOptions());
        Assert.Equal((1e-3, 0.0, false), (sgd.LearningRate, sgd.Momentum, sgd.Nesterov));
    }

    [Fact]
    public void ASectionSetsItsKeysAndLeavesTheOthersAtTheReferenceDefaults()
    {
        var config = ConfigBinder.Bind("""{ "optimizer": "lamb", "lamb": { "lr": 0.02, "trust_clip": true, "weight_decay": 0.05 } }""");
        var lamb = Assert.IsType<LambGroupOptions>(config.OptimizerOptions());
        Assert.Equal(new LambGroupOptions { LearningRate = 0.02, TrustClip = true, WeightDecay = 0.05 }, lamb);
    }

    [Fact]
    public void DottedSetKeysAddressASectionOverTheFile()
    {
        var config = ConfigBinder.Bind("""{ "optimizer": "adamw", "adamw": { "eps": 1e-6, "lr": 0.1 } }""",
            ["adamw.lr=3e-4", "adamw.betas=[0.8, 0.99]", "sgd.momentum=0.9", "sgd.nesterov=true"]);
        Assert.Equal(new AdamWGroupOptions { LearningRate = 3e-4, Betas = [0.8, 0.99], Eps = 1e-6 }, config.OptimizerOptions());
        Assert.Equal(new SgdGroupOptions { Momentum = 0.9, Nesterov = true }, config.Sections.For("sgd"));
        Assert.Equal(["adamw", "sgd"], config.Sections.Names);
        Assert.Equal(new AdanGroupOptions { Betas = [0.9, 0.9, 0.95] },
            ConfigBinder.Bind(null, ["adan.betas=[0.9,0.9,0.95]"]).OptimizerOptions());
    }

    [Fact]
    public void TheOptimizersLrIsThePeakOfTheScheduleAndTrainingNeverChangesTheConfig()
    {
        var config = ConfigBinder.Bind(null, ["optimizer=sgd", "sgd.lr=0.05", "adan.lr=0.5", "min_lr=0.01"]);
        var options = config.OptimizerOptions();
        Assert.Equal(0.05, options.LearningRate);
        options.LearningRate = 7;
        Assert.Equal(0.05, config.OptimizerOptions().LearningRate);
    }

    [Fact]
    public void ASectionOfAnotherOptimizerIsKeptPrintedAndValidated()
    {
        var config = ConfigBinder.Bind("""{ "optimizer": "adan", "lamb": { "lr": 0.01 } }""");
        Assert.Equal(new LambGroupOptions { LearningRate = 0.01 }, config.Sections.For("lamb"));
        Assert.Equal(new AdanGroupOptions(), config.OptimizerOptions());
        var text = config.Describe();
        Assert.Matches(@"(?m)^lamb\.lr\s+= 0\.01$", text);
        Assert.Matches(@"(?m)^adan\.lr\s+= 0\.001$", text);
        Assert.True(text.IndexOf("adan.lr", StringComparison.Ordinal) < text.IndexOf("lamb.lr", StringComparison.Ordinal));

        Assert.Equal("lamb.betas: Invalid beta2: 1; it must be in [0, 1).",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "optimizer": "adan", "lamb": { "betas": [0.9, 1] } }""")).Message);
        Assert.Equal("Invalid sgd.lr: 0; valid range is (0, 10].",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["sgd.lr=0"])).Message);
    }

    [Theory]
    [InlineData("lr=0.01", "use adan.lr (or lamb.lr, adamw.lr, sgd.lr) instead.")]
    [InlineData("beta1=0.9", "use adan.betas (or lamb.betas, adamw.betas) instead.")]
    [InlineData("beta2=0.9", "use adan.betas (or lamb.betas, adamw.betas) instead.")]
    [InlineData("beta3=0.9", "use adan.betas (or lamb.betas, adamw.betas) instead.")]
    [InlineData("betas=0.9,0.9,0.9", "use adan.betas (or lamb.betas, adamw.betas) instead.")]
    [InlineData("eps=1e-6", "use adan.eps (or lamb.eps, adamw.eps) instead.")]
    [InlineData("weight_decay=0.02", "use adan.weight_decay (or lamb.weight_decay, adamw.weight_decay, sgd.weight_decay) instead.")]
    [InlineData("max_grad_norm=1", "use adan.max_grad_norm (or lamb.max_grad_norm, adamw.max_grad_norm, sgd.max_grad_norm) instead.")]
    [InlineData("no_prox=true", "use adan.no_prox instead.")]
    [InlineData("trust_clip=true", "use lamb.trust_clip instead.")]
    [InlineData("always_adapt=true", "use lamb.always_adapt instead.")]
    [InlineData("momentum=0.9", "use sgd.momentum instead.")]
    public void AFlatOptimizerKeyIsRefusedWithTheSectionKeyToUse(string assignment, string use)
    {
        var key = assignment[..assignment.IndexOf('=', StringComparison.Ordinal)];
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, [assignment]));
        Assert.Equal($"Invalid key '{key}' in --set: optimizer settings live in the optimizer's section; {use}", e.Message);
    }

    [Fact]
    public void AFlatKeyInAFileNamesTheChosenOptimizersSectionFirst()
    {
        Assert.Equal("Invalid key 'beta1' in run.json: optimizer settings live in the optimizer's section; use lamb.betas (or adan.betas, adamw.betas) instead.",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "optimizer": "lamb", "beta1": 0.9 }""", source: "run.json")).Message);
    }

    [Fact]
    public void AnUnknownKeyInASectionNamesTheKeyTheSectionAndItsKeys()
    {
        Assert.Equal("Unknown config key 'lamb.beta3' in run.json; the lamb section takes lr, betas, eps, weight_decay, bias_correction, grad_averaging, trust_clip, always_adapt, max_grad_norm.",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "lamb": { "beta3": 0.99 } }""", source: "run.json")).Message);
        Assert.Equal("Unknown config key 'adamw.no_prox' in --set; the adamw section takes lr, betas, eps, weight_decay, max_grad_norm.",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["adamw.no_prox=true"])).Message);
        Assert.StartsWith("Unknown config key 'adamax.lr' in --set; a dotted key sets a key of an optimizer's section (adan, lamb, adamw, sgd)",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["adamax.lr=0.1"])).Message);
    }

    [Fact]
    public void EveryOptimizersSectionPrintsAsItsKeysAndBindsBackToTheSameConfig()
    {
        foreach (var name in OptimizerRegistry.Names)
        {
            var config = ConfigBinder.Bind(null, [$"optimizer={name}", $"{name}.lr=0.004", "no_decay_bias_norm=true"]);
            var lines = config.Describe().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(" = ", 2)).ToArray();
            var section = lines.Where(pair => pair[0].StartsWith($"{name}.", StringComparison.Ordinal)).ToArray();
            Assert.Equal(OptimizerSections.KeysOf(name).Select(key => $"{name}.{key}"), section.Select(pair => pair[0].TrimEnd()));
            Assert.Matches(@"(?m)^no_decay_bias_norm\s+= true$", config.Describe());
            // The printed values are --set values: the config they describe binds again.
            var again = ConfigBinder.Bind(null, [$"optimizer={name}", "no_decay_bias_norm=true", .. section.Select(pair => $"{pair[0].TrimEnd()}={pair[1].Trim()}")]);
            Assert.Equal(config, again);
        }
    }
}
