using Adan.Worker.Config;

namespace Adan.Worker.Tests.Config;

public class TrainConfigTests
{
    [Fact]
    public void DefaultsAreValid()
    {
        new TrainConfig().Validate();
    }

    [Fact]
    public void JsonSetsSnakeCaseKeysAndOverridesWinInOrder()
    {
        const string json = """
            {
              // comments are allowed in config files
              "model": "gpt", "dataset": "text", "micro_batch": 32, "lr": 0.003,
              "betas": [0.9, 0.9, 0.95], "no_prox": true, "optimizer": "adamw",
              "schedule": "constant", "gpt_context": 32
            }
            """;
        var config = ConfigBinder.FromJson(json);
        config = ConfigBinder.ApplyOverrides(config, ["lr=1e-4", "micro_batch=16", "zero_stage=2", "micro_batch=8", "betas=0.98,0.92,0.99"]);
        config.Validate();

        Assert.Equal(ModelKind.Gpt, config.Model);
        Assert.Equal(DatasetKind.Text, config.Dataset);
        Assert.Equal(8, config.MicroBatch);
        Assert.Equal(1e-4, config.Lr);
        Assert.Equal(2, config.ZeroStage);
        Assert.Equal((0.98, 0.92, 0.99), (config.Beta1, config.Beta2, config.Beta3));
        Assert.True(config.NoProx);
        Assert.Equal(OptimizerKind.AdamW, config.Optimizer);
        Assert.Equal(LrSchedule.Constant, config.Schedule);
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
    public void UnknownKeyNamesTheKeyAndTheValidKeys()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.ApplyOverrides(new TrainConfig(), ["learning_rate=0.1"]));
        Assert.StartsWith("Unknown config key 'learning_rate'; valid keys: model, dataset,", e.Message);
        Assert.Contains("micro_batch", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        var json = Assert.Throws<ConfigException>(() => ConfigBinder.FromJson("""{ "microbatch": 3 }"""));
        Assert.StartsWith("Unknown config key 'microbatch'", json.Message);
    }

    [Theory]
    [InlineData("lr=abc", "Invalid lr: 'abc'; expected a number in (0, 10].")]
    [InlineData("lr=0", "Invalid lr: '0'; valid range is (0, 10].")]
    [InlineData("zero_stage=3", "Invalid zero_stage: '3'; valid range is [0, 2].")]
    [InlineData("micro_batch=1.5", "Invalid micro_batch: '1.5'; expected an integer in [1, 65536].")]
    [InlineData("model=transformer", "Invalid model: 'transformer'; valid choices are mlp | resnet | vit | gpt.")]
    [InlineData("optimizer=lamb", "Invalid optimizer: 'lamb'; valid choices are adan | adamw | sgd.")]
    [InlineData("dataset=cifar", "Invalid dataset: 'cifar'; valid choices are fashion-mnist | text.")]
    [InlineData("no_prox=maybe", "Invalid no_prox: 'maybe'; valid choices are true | false.")]
    [InlineData("beta2=1", "Invalid beta2: '1'; valid range is [0, 0.999999].")]
    [InlineData("lr", "--set 'lr' is not key=value (e.g. --set lr=0.001).")]
    public void BadValueNamesKeyValueAndRange(string assignment, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.ApplyOverrides(new TrainConfig(), [assignment]));
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void BadBetasNameTheCompositeKey()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigBinder.ApplyOverrides(new TrainConfig(), ["betas=0.9,0.9"]));
        Assert.StartsWith("Invalid betas: '0.9,0.9'; expected three numbers", e.Message);
        var range = Assert.Throws<ConfigException>(() => ConfigBinder.FromJson("""{ "betas": [0.9, 1.5, 0.9] }"""));
        Assert.Equal("Invalid betas: '0.9,1.5,0.9'; Invalid beta2: '1.5'; valid range is [0, 0.999999].", range.Message);
    }

    [Fact]
    public void JsonOfTheWrongKindIsRejected()
    {
        Assert.Equal("Invalid epochs: {}; expected a string, number or boolean.",
            Assert.Throws<ConfigException>(() => ConfigBinder.FromJson("""{ "epochs": {} }""")).Message);
        Assert.StartsWith("config must hold a JSON object",
            Assert.Throws<ConfigException>(() => ConfigBinder.FromJson("[1]")).Message);
        Assert.StartsWith("config is not valid JSON",
            Assert.Throws<ConfigException>(() => ConfigBinder.FromJson("{ nope")).Message);
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
        Assert.Equal("Invalid min_lr: 0.1; valid range is [0, lr = 0.002].",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { MinLr = 0.1 }).Validate()).Message);
        Assert.Equal("Invalid resume: empty; it needs a value.",
            Assert.Throws<ConfigException>(() => (new TrainConfig() with { Resume = "" }).Validate()).Message);
    }

    [Fact]
    public void DescribeListsEveryKeyWithItsValue()
    {
        var text = new TrainConfig().Describe();
        foreach (var key in ConfigBinder.Keys.Where(key => key != ConfigBinder.BetasKey))
        {
            Assert.Contains(key, text);
        }
        Assert.Contains("dataset", text);
        Assert.Matches(@"(?m)^dataset\s+= fashion-mnist$", text);
        Assert.Matches(@"(?m)^lr\s+= 0\.002$", text);
        Assert.Matches(@"(?m)^bucket_mib\s+= 25$", text);
    }

    [Fact]
    public void CheckpointDirIsResolvedUnderTheRunDir()
    {
        Assert.Equal(Path.Combine("runs/x", "checkpoints"), (new TrainConfig() with { RunDir = "runs/x" }).ResolvedCheckpointDir);
        Assert.Equal("/abs", (new TrainConfig() with { CheckpointDir = "/abs" }).ResolvedCheckpointDir);
    }

    [Theory]
    [InlineData("fashion-resnet.json", ModelKind.Resnet)]
    [InlineData("gpt-fortunes.json", ModelKind.Gpt)]
    public void CheckedInConfigsLoad(string file, ModelKind model)
    {
        var config = ConfigBinder.Load(Path.Combine(TestFiles.RepoRoot, "deploy", "configs", file), null);
        Assert.Equal(model, config.Model);
    }
}

public class ConfigOptionsTests
{
    [Fact]
    public void CommandLineBindsFileAndRepeatedSets()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var path = Path.Combine(temp.Path, "c.json");
        File.WriteAllText(path, """{ "model": "vit", "lr": 0.01 }""");
        var options = new ConfigOptions();
        var command = new System.CommandLine.RootCommand();
        options.AddTo(command);

        var config = options.Bind(command.Parse(["--config", path, "--set", "lr=0.02", "--set", "seed=5"]));

        Assert.Equal(ModelKind.Vit, config.Model);
        Assert.Equal(0.02, config.Lr);
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
