using Adan.Worker.Config;
using Adan.Sharded.Schedules;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Tests.Config;

public class TrainConfigTests
{
    [Fact]
    public void DefaultsAreValid()
    {
        new TrainConfig().Validate();
    }

    [Fact]
    public void TheResolvedJsonBindsBackToTheSameConfig()
    {
        var config = ConfigBinder.Bind("""{ "model": "mlp", "optimizer": "lamb", "lamb": { "lr": 0.004, "betas": [0.9, 0.95] }, "sgd": { "momentum": 0.8 } }""",
            ["zero_stage=2", "micro_batch=24", "warmup_steps=3", "max_steps=7", "checkpoint_dir=/tmp/x"]);

        var json = ConfigBinder.ToJson(config);
        var rebound = ConfigBinder.Bind(json);

        Assert.Equal(config, rebound);
        Assert.Equal(ConfigBinder.Describe(config), ConfigBinder.Describe(rebound));
        Assert.Equal(json, ConfigBinder.ToJson(rebound));
    }

    [Fact]
    public void OptimizerStateBindsItsThreeModesAndRefusesOthersInOneLine()
    {
        Assert.Equal(OptimizerStateMode.Fp32, new TrainConfig().OptimizerState);
        Assert.Equal(OptimizerStateMode.Bf16, ConfigBinder.Bind(null, ["optimizer_state=bf16"]).OptimizerState);
        var eightBit = ConfigBinder.Bind("""{ "optimizer_state": "8bit" }""");
        Assert.Equal(OptimizerStateMode.EightBit, eightBit.OptimizerState);
        Assert.Contains("\"optimizer_state\": \"8bit\"", ConfigBinder.ToJson(eightBit));
        var bad = Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["optimizer_state=fp8"]));
        Assert.Equal("Invalid optimizer_state in --set: 'fp8'; valid choices are fp32 | bf16 | 8bit.", bad.Message);
        var lamb = Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["optimizer=lamb", "optimizer_state=bf16"]));
        Assert.Equal("Invalid optimizer_state: bf16 with optimizer lamb; only adan stores low-precision state, so use optimizer_state=fp32.", lamb.Message);
        Assert.Contains(ConfigKeys.All, key => key.Name == "optimizer_state");
    }

    [Fact]
    public void TheResolvedJsonOfTheDefaultsPinsTheOptimizersDefaults()
    {
        var json = ConfigBinder.ToJson(new TrainConfig());
        var rebound = ConfigBinder.Bind(json);

        Assert.Contains("\"adan\": {", json);
        Assert.Equal(ConfigBinder.Describe(new TrainConfig()), ConfigBinder.Describe(rebound));
        Assert.Equal(new TrainConfig() with { Sections = rebound.Sections }, rebound);
    }

    [Fact]
    public void JsonSetsSnakeCaseKeysAndOverridesWinInOrder()
    {
        const string json = """
            {
              // comments are allowed in config files
              "model": "gpt", "dataset": "text", "micro_batch": 32, "optimizer": "adan",
              "adan": { "lr": 0.003, "betas": [0.9, 0.9, 0.95], "no_prox": true },
              "schedule": "constant", "gpt_context": 32
            }
            """;
        var config = ConfigBinder.Bind(json, ["adan.lr=1e-4", "micro_batch=16", "zero_stage=2", "micro_batch=8", "adan.betas=[0.98,0.92,0.99]"]);

        Assert.Equal(ModelKind.Gpt, config.Model);
        Assert.Equal(DatasetKind.Text, config.Dataset);
        Assert.Equal(8, config.MicroBatch);
        var adan = Assert.IsType<AdanGroupOptions>(config.OptimizerOptions());
        Assert.Equal(1e-4, adan.LearningRate);
        Assert.Equal(ZeroStage.Gradients, config.ZeroStage);
        Assert.Equal((0.98, 0.92, 0.99), (adan.Beta1, adan.Beta2, adan.Beta3));
        Assert.True(adan.NoProx);
        Assert.Equal("adan", config.Optimizer);
        Assert.Equal(LearningRateDecay.Constant, config.Schedule);
        Assert.Equal(32, config.GptContext);
    }

    [Fact]
    public void LoadReadsFileThenOverrides()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var path = Path.Combine(temp.Path, "run.json");
        File.WriteAllText(path, """{ "model": "mlp", "epochs": 2, "dataset": "fashion-mnist" }""");

        var config = ConfigBinder.Load(path, ["epochs=5"]);

        Assert.Equal(ModelKind.Mlp, config.Model);
        Assert.Equal(5, config.Epochs);
    }

    [Fact]
    public void EveryEnumSpellingOfTheCheckedInConfigsAndDocsBinds()
    {
        var config = ConfigBinder.Bind("""{ "dataset": "fashion-mnist", "optimizer": "adamw", "lr_policy": "sqrt", "schedule": "cosine", "telemetry": "console" }""");
        Assert.Equal((DatasetKind.FashionMnist, "adamw"), (config.Dataset, config.Optimizer));
        Assert.Equal((LearningRateScaling.Sqrt, LearningRateDecay.Cosine, TelemetryMode.Console), (config.LrPolicy, config.Schedule, config.Telemetry));
        Assert.Equal(LearningRateScaling.Linear, ConfigBinder.Bind(null, ["lr_policy=linear"]).LrPolicy);
        Assert.Equal(LearningRateScaling.None, ConfigBinder.Bind(null, ["lr_policy=none"]).LrPolicy);
        Assert.Equal("sgd", ConfigBinder.Bind(null, ["optimizer=sgd"]).Optimizer);
        Assert.Equal(OptimizerRegistry.Names, OptimizerRegistry.Names.Select(name => ConfigBinder.Bind(null, [$"optimizer={name}"]).Optimizer));
        foreach (var (model, dataset) in new[] { ("mlp", "fashion-mnist"), ("resnet", "fashion-mnist"), ("vit", "fashion-mnist"), ("gpt", "text") })
        {
            Assert.Equal(model, ConfigBinder.Name(ConfigBinder.Bind(null, [$"model={model}", $"dataset={dataset}"]).Model));
        }
    }

    [Theory]
    [InlineData("0", ZeroStage.Replicated)]
    [InlineData("1", ZeroStage.OptimizerState)]
    [InlineData("2", ZeroStage.Gradients)]
    [InlineData("replicated", ZeroStage.Replicated)]
    [InlineData("optimizer-state", ZeroStage.OptimizerState)]
    [InlineData("gradients", ZeroStage.Gradients)]
    public void ZeroStageIsTheLibraryEnumByNumberOrName(string value, ZeroStage expected)
    {
        var config = ConfigBinder.Bind(null, [$"zero_stage={value}"]);
        Assert.Equal(expected, config.ZeroStage);
        Assert.Matches($@"(?m)^zero_stage\s+= {(int)expected}$", config.Describe());
        Assert.Equal(expected, ConfigBinder.Bind($$"""{ "zero_stage": {{(int)expected}} }""").ZeroStage);
    }

    [Fact]
    public void StringKeysTakeTheOverrideTextAsItIs()
    {
        var config = ConfigBinder.Bind(null, ["run_dir=2024", "resume=runs/x/checkpoints/step-0000001000", "checkpoint_dir=true"]);
        Assert.Equal(("2024", "runs/x/checkpoints/step-0000001000", "true"), (config.RunDir, config.Resume, config.CheckpointDir));
    }

    [Fact]
    public void UnknownKeyNamesTheKeyTheSourceAndTheClosestKey()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["learning_rate=0.1"]));
        Assert.StartsWith("Unknown config key 'learning_rate' in --set; valid keys: model, dataset,", e.Message);
        Assert.Contains("micro_batch", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        using var temp = TestFiles.CreateTempDirectory();
        var path = Path.Combine(temp.Path, "run.json");
        File.WriteAllText(path, """{ "microbatch": 3 }""");
        Assert.Equal($"Unknown config key 'microbatch' in {path}; did you mean 'micro_batch'?",
            Assert.Throws<ConfigException>(() => ConfigBinder.Load(path, null)).Message);
        Assert.StartsWith("Unknown config key 'resolved_checkpoint_dir' in config; valid keys: ",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "resolved_checkpoint_dir": "x" }""")).Message);
        File.WriteAllText(path, """{ "epochs": 2 }""");
        Assert.Equal("Unknown config key 'shedule' in --set; did you mean 'schedule'?",
            Assert.Throws<ConfigException>(() => ConfigBinder.Load(path, ["shedule=cosine"])).Message);
    }

    [Theory]
    [InlineData("adan.lr=abc", "Invalid adan.lr in --set: 'abc'; expected a number.")]
    [InlineData("adan.lr=0", "Invalid adan.lr: 0; valid range is (0, 10].")]
    [InlineData("adan.lr=NaN", "Invalid adan.lr in --set: 'NaN'; expected a number.")]
    [InlineData("zero_stage=3", "Invalid zero_stage: 3; valid choices are 0 | 1 | 2.")]
    [InlineData("zero_stage=all", "Invalid zero_stage in --set: 'all'; valid choices are 0 | 1 | 2.")]
    [InlineData("micro_batch=1.5", "Invalid micro_batch in --set: 1.5; expected an integer in [1, 65536].")]
    [InlineData("max_steps=-1", "Invalid max_steps: -1; valid range is [0, 9223372036854775807].")]
    [InlineData("adan.max_grad_norm=-1", "adan.max_grad_norm: Invalid max_grad_norm: -1; it must be >= 0 (0 disables clipping).")]
    [InlineData("threads=", "Invalid threads in --set: ''; expected an integer in [0, 1024].")]
    [InlineData("model=transformer", "Invalid model in --set: 'transformer'; valid choices are mlp | resnet | vit | gpt.")]
    [InlineData("optimizer=adamax", "Invalid optimizer: 'adamax'; valid choices are adan | lamb | adamw | sgd.")]
    [InlineData("dataset=cifar", "Invalid dataset in --set: 'cifar'; valid choices are fashion-mnist | text | tokens.")]
    [InlineData("schedule=step", "Invalid schedule in --set: 'step'; valid choices are constant | cosine.")]
    [InlineData("lr_policy=cubic", "Invalid lr_policy in --set: 'cubic'; valid choices are none | linear | sqrt.")]
    [InlineData("adan.no_prox=maybe", "Invalid adan.no_prox in --set: 'maybe'; valid choices are true | false.")]
    [InlineData("adan.betas=[0.98,1,0.99]", "adan.betas: Invalid beta2: 1; it must be in [0, 1).")]
    [InlineData("resume= ", "Invalid resume: empty; it needs a value.")]
    [InlineData("adan.lr", "--set 'adan.lr' is not key=value (e.g. --set adan.lr=0.001).")]
    public void BadValueNamesKeyValueAndRange(string assignment, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, [assignment]));
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void BetasSetTheThreeBetas()
    {
        var config = ConfigBinder.Bind("""{ "adan": { "betas": [0.9, 0.91, 0.92] } }""");
        var adan = (AdanGroupOptions)config.OptimizerOptions();
        Assert.Equal((0.9, 0.91, 0.92), (adan.Beta1, adan.Beta2, adan.Beta3));
        Assert.Equal("adan.betas in --set: Invalid betas: Adan takes 3 values, e.g. [0.98, 0.92, 0.99], but got 2.",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["adan.betas=[0.9,0.9]"])).Message);
        Assert.Equal("Invalid adan.betas in config: 0.9; expected a JSON array of numbers, e.g. [0.9, 0.999].",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "adan": { "betas": 0.9 } }""")).Message);
        Assert.Equal("Invalid adan.betas in --set: '0.9,0.9,0.9'; expected a JSON array of numbers, e.g. [0.9, 0.999].",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["adan.betas=0.9,0.9,0.9"])).Message);
        Assert.Equal("adan.betas: Invalid beta2: 1.5; it must be in [0, 1).",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "adan": { "betas": [0.9, 1.5, 0.9] } }""")).Message);
    }

    [Fact]
    public void JsonOfTheWrongKindIsRejected()
    {
        Assert.Equal("Invalid epochs in config: {}; expected an integer in [1, 100000].",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "epochs": {} }""")).Message);
        Assert.Equal("Invalid adan.lr in run.json: '0.1'; expected a number.",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "adan": { "lr": "0.1" } }""", source: "run.json")).Message);
        Assert.StartsWith("Invalid adan in run.json: 0.1; the adan section is a JSON object of lr, betas,",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "adan": 0.1 }""", source: "run.json")).Message);
        Assert.StartsWith("config must hold a JSON object",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("[1]")).Message);
        Assert.StartsWith("config is not valid JSON",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("{ nope")).Message);
        Assert.Contains("epochs",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind("""{ "epochs": 2, "epochs": 4 }""")).Message);
    }

    [Fact]
    public void ValidateChecksRangesAndCombinations()
    {
        Assert.Equal("Invalid epochs: 0; valid range is [1, 100000].",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { Epochs = 0 }).Validate()).Message);
        Assert.StartsWith("Invalid dataset: fashion-mnist with model gpt",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { Model = ModelKind.Gpt }).Validate()).Message);
        Assert.Equal("Invalid gpt_embedding: 100; it must be divisible by gpt_heads = 3.",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { Model = ModelKind.Gpt, Dataset = DatasetKind.Text, GptEmbedding = 100, GptHeads = 3 }).Validate()).Message);
        Assert.StartsWith("Invalid vit_patch: 5;",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { VitPatch = 5 }).Validate()).Message);
        Assert.Equal("Invalid min_lr: 0.1; valid range is [0, adan.lr = 0.001].",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { MinLr = 0.1 }).Validate()).Message);
        Assert.Equal("Invalid min_lr: 0.1; valid range is [0, adamw.lr = 0.05].",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["optimizer=adamw", "adamw.lr=0.05", "adan.lr=0.5", "min_lr=0.1"])).Message);
        Assert.Equal("Invalid resume: empty; it needs a value.",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { Resume = "" }).Validate()).Message);
        // Every optimizer checkpoints its own state now.
        (new TrainConfig() with { Optimizer = "adamw", CheckpointEvery = 10 }).Validate();
        Assert.Equal("Invalid optimizer: 'adam'; valid choices are adan | lamb | adamw | sgd.",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { Optimizer = "adam" }).Validate()).Message);
        Assert.Equal("sgd.nesterov: Nesterov momentum requires a momentum and zero dampening; set momentum > 0 and dampening 0, or nesterov false.",
            Assert.Throws<ConfigException>(() => new TrainConfig().WithSection(new SgdGroupOptions { Nesterov = true }).Validate()).Message);
    }

    [Fact]
    public void DescribeListsEveryKeyWithItsValue()
    {
        var text = new TrainConfig().Describe();
        string[] adanKeys = ["adan.lr", "adan.betas", "adan.eps", "adan.weight_decay", "adan.no_prox", "adan.max_grad_norm"];
        var keys = ConfigBinder.Keys.Except(OptimizerRegistry.Names).SelectMany(key => key == "optimizer" ? [key, .. adanKeys] : new[] { key }).ToArray();
        Assert.Equal(keys, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ')[0]));
        Assert.Contains("dataset", text);
        Assert.Matches(@"(?m)^dataset\s+= fashion-mnist$", text);
        Assert.Matches(@"(?m)^adan\.lr\s+= 0\.001$", text);
        Assert.Matches(@"(?m)^adan\.betas\s+= \[0\.98,0\.92,0\.99\]$", text);
        Assert.Matches(@"(?m)^bucket_mib\s+= 25$", text);
        Assert.Matches(@"(?m)^adan\.eps\s+= 1E-08$", text);
        Assert.Matches(@"(?m)^zero_stage\s+= 1$", text);
        Assert.Matches(@"(?m)^lr_policy\s+= none$", text);
        Assert.Matches(@"(?m)^schedule\s+= cosine$", text);
    }

    [Fact]
    public void CheckpointDirIsResolvedUnderTheRunDir()
    {
        Assert.Equal(Path.Combine("runs/x", "checkpoints"), (new TrainConfig() with { RunDir = "runs/x" }).ResolvedCheckpointDir);
        Assert.Equal("/abs", (new TrainConfig() with { CheckpointDir = "/abs" }).ResolvedCheckpointDir);
    }

    [Theory]
    [InlineData("fashion-resnet.json", "resnet")]
    [InlineData("gpt-fortunes.json", "gpt")]
    public void CheckedInConfigsLoad(string file, string model)
    {
        var config = ConfigBinder.Load(Path.Combine(TestFiles.RepoRoot, "deploy", "configs", file), null);
        Assert.Equal(model, ConfigBinder.Name(config.Model));
    }
}

public class ConfigOptionsTests
{
    [Fact]
    public void CommandLineBindsFileAndRepeatedSets()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var path = Path.Combine(temp.Path, "c.json");
        File.WriteAllText(path, """{ "model": "vit", "adan": { "lr": 0.01, "eps": 1e-6 } }""");
        var options = new ConfigOptions();
        var command = new System.CommandLine.RootCommand();
        options.AddTo(command);

        var config = options.Bind(command.Parse(["--config", path, "--set", "adan.lr=0.02", "--set", "seed=5"]));

        Assert.Equal(ModelKind.Vit, config.Model);
        Assert.Equal((0.02, 1e-6), (config.OptimizerOptions().LearningRate, ((AdanGroupOptions)config.OptimizerOptions()).Eps));
        Assert.Equal(5, config.Seed);
        Assert.Equal(new TrainConfig(), options.Bind(command.Parse([])));
        Assert.StartsWith("Config file '/nonexistent.json' not found",
            Assert.Throws<ConfigException>(() => options.Bind(command.Parse(["--config", "/nonexistent.json"]))).Message);
    }

    [Fact]
    public void ThreadsDefaultToCoresPerRank()
    {
        Assert.Equal(3, new TrainConfig { Threads = 3 }.EffectiveThreads(8));
        Assert.Equal(Math.Max(1, Environment.ProcessorCount / 2), new TrainConfig().EffectiveThreads(2));
        Assert.Equal(1, new TrainConfig().EffectiveThreads(10_000));
    }
}
