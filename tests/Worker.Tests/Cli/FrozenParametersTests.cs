using System.Text.Json;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Training.Config;
using static TorchSharp.torch;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// A run starts from the weights <c>adan checkpoint export</c> wrote (<c>init_weights</c>) and evaluates at step 0
/// exactly as the checkpoint did; a frozen layer (<c>freeze</c>) trains nothing, holds no optimizer state, keeps the
/// loaded weights to the last step, is exported with the rest, and is restored from the checkpoint on resume.
/// </summary>
public class FrozenParametersTests
{
    private static readonly string[] s_mlp =
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=512", "--set", "test_subset=100", "--set", "micro_batch=32",
        "--set", "resume=none",
    ];

    [Fact]
    public void ARunFromExportedWeightsWithAFrozenLayerKeepsItOutOfTheOptimizerAndResumesItFromTheCheckpoint()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var pretrained = Path.Combine(temp.Path, "p");
        var first = AdanCli.Run([.. s_mlp, "--set", "max_steps=5", "--set", "checkpoint_every=5", "--set", $"run_dir={pretrained}"]);
        Assert.True(first.ExitCode == 0, first.Describe());
        var exported = Path.Combine(temp.Path, "export");
        Directory.CreateDirectory(exported);
        var export = AdanCli.Run(["checkpoint", "export", Path.Combine(pretrained, "checkpoints", "step-0000000005"), "--out", Path.Combine(exported, "model.safetensors")]);
        Assert.True(export.ExitCode == 0, export.Describe());

        // Step 0 of a run from the export scores as the checkpoint did at its step (the same weights, evaluated the same way).
        var config = ConfigBinder.Bind(null, ["model=mlp", "mlp_hidden=32", "train_subset=512", "test_subset=100", $"init_weights={exported}"]);
        using (var run = TrainingSetup.Create(config, new SingleProcessCollective()))
        {
            run.Model.eval();
            TaskScore score;
            using (no_grad())
            {
                score = run.Data.Task.Score(run.Data.Task.EvaluationSums(run.Model, run.Data.Test!, 0, run.Data.Test!.Count));
            }
            var checkpoint = Summary(pretrained);
            Assert.True(score.Loss == checkpoint.GetProperty("test_loss").GetDouble(),
                $"step 0 from the export: loss {score.Loss:R}, the checkpoint: {checkpoint.GetProperty("test_loss").GetDouble():R}");
            Assert.Equal(checkpoint.GetProperty("test_accuracy").GetDouble(), score.Accuracy);
        }

        string[] fineTune = [.. s_mlp, "--set", "freeze=hidden", "--set", "max_steps=6", "--set", "checkpoint_every=3"];
        var tuned = Path.Combine(temp.Path, "u");
        var uninterrupted = AdanCli.Run([.. fineTune, "--set", $"init_weights={exported}", "--set", $"run_dir={tuned}"]);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Describe());
        var expected = Summary(tuned);
        // Adan's state for the 330 output weights only, not the 25120 of the frozen hidden layer.
        Assert.True(expected.GetProperty("optimizer_state_bytes").GetInt64() * 10 < Summary(pretrained).GetProperty("optimizer_state_bytes").GetInt64(),
            $"optimizer state {expected.GetProperty("optimizer_state_bytes")} B frozen, {Summary(pretrained).GetProperty("optimizer_state_bytes")} B not");
        var final = Path.Combine(temp.Path, "final.safetensors");
        var finalExport = AdanCli.Run(["checkpoint", "export", Path.Combine(tuned, "checkpoints", "step-0000000006"), "--out", final]);
        Assert.True(finalExport.ExitCode == 0, finalExport.Describe());
        using (var before = SafetensorsFile.Open(Path.Combine(exported, "model.safetensors")))
        using (var after = SafetensorsFile.Open(final))
        {
            Assert.Equal(before.Tensors.Keys.Order(), after.Tensors.Keys.Order());
            Assert.True(Bytes(before, "hidden.weight").SequenceEqual(Bytes(after, "hidden.weight")), "the frozen weights changed");
            Assert.True(Bytes(before, "hidden.bias").SequenceEqual(Bytes(after, "hidden.bias")), "the frozen bias changed");
            Assert.False(Bytes(before, "output.weight").SequenceEqual(Bytes(after, "output.weight")), "the trained layer did not change");
        }

        // Resumed from step 3 without init_weights: the frozen layer comes from the checkpoint, not from the seed.
        var resumedDir = Path.Combine(temp.Path, "r");
        var resumed = AdanCli.Run([.. fineTune, "--set", $"resume={Path.Combine(tuned, "checkpoints", "step-0000000003")}",
            "--set", $"checkpoint_dir={Path.Combine(resumedDir, "checkpoints")}", "--set", $"run_dir={resumedDir}"]);
        Assert.True(resumed.ExitCode == 0, resumed.Describe());
        var actual = Summary(resumedDir);
        foreach (var key in new[] { "final_loss", "test_loss", "test_accuracy" })
        {
            Assert.True(expected.GetProperty(key).GetDouble() == actual.GetProperty(key).GetDouble(),
                $"{key}: resumed {actual.GetProperty(key).GetDouble():R}, uninterrupted {expected.GetProperty(key).GetDouble():R}");
        }
    }

    /// <summary>
    /// Under bf16-mixed a frozen layer is converted with the model and computes in bf16, stays out of both flat buffers,
    /// and is checkpointed widened to F32 (the entry an fp32 run writes): exported as its seeded weights rounded to bf16,
    /// and restored on resume so that the resumed run ends bit for bit as the uninterrupted one.
    /// </summary>
    [Fact]
    public void AFrozenLayerUnderMixedPrecisionIsKeptInBf16AndResumesBitForBit()
    {
        using var temp = TestFiles.CreateTempDirectory();
        string[] fineTune = [.. s_mlp, "--set", "freeze=hidden", "--set", "precision=bf16-mixed", "--set", "max_steps=6", "--set", "checkpoint_every=3"];
        var tuned = Path.Combine(temp.Path, "u");
        var uninterrupted = AdanCli.Run([.. fineTune, "--set", $"run_dir={tuned}"]);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Describe());

        // The frozen layer as the seed makes it, rounded to bf16 once.
        var config = ConfigBinder.Bind(null, ["model=mlp", "mlp_hidden=32", "train_subset=512", "test_subset=100"]);
        byte[] seeded;
        using (var run = TrainingSetup.Create(config, new SingleProcessCollective()))
        {
            var hidden = run.Model.named_parameters().Single(p => p.name == "hidden.weight").parameter;
            using var rounded = hidden.to(ScalarType.BFloat16).to(ScalarType.Float32);
            seeded = rounded.bytes.ToArray();
        }
        var final = Path.Combine(temp.Path, "final.safetensors");
        Assert.Equal(0, AdanCli.Run(["checkpoint", "export", Path.Combine(tuned, "checkpoints", "step-0000000006"), "--out", final]).ExitCode);
        using (var exported = SafetensorsFile.Open(final))
        {
            Assert.Equal("F32", exported.Tensor("hidden.weight").DType);
            Assert.True(Bytes(exported, "hidden.weight").SequenceEqual(seeded), "the frozen layer is not its seeded weights rounded to bf16");
        }

        var resumedDir = Path.Combine(temp.Path, "r");
        var resumed = AdanCli.Run([.. fineTune, "--set", $"resume={Path.Combine(tuned, "checkpoints", "step-0000000003")}",
            "--set", $"checkpoint_dir={Path.Combine(resumedDir, "checkpoints")}", "--set", $"run_dir={resumedDir}"]);
        Assert.True(resumed.ExitCode == 0, resumed.Describe());
        var expected = Summary(tuned);
        var actual = Summary(resumedDir);
        foreach (var key in new[] { "final_loss", "test_loss", "test_accuracy" })
        {
            Assert.True(expected.GetProperty(key).GetDouble() == actual.GetProperty(key).GetDouble(),
                $"{key}: resumed {actual.GetProperty(key).GetDouble():R}, uninterrupted {expected.GetProperty(key).GetDouble():R}");
        }
    }

    [Fact]
    public void WeightsOfAnotherArchitectureOrAFreezeOfNoParameterAreRefusedInOneLine()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var runDir = Path.Combine(temp.Path, "p");
        var first = AdanCli.Run([.. s_mlp, "--set", "max_steps=1", "--set", "checkpoint_every=1", "--set", $"run_dir={runDir}"]);
        Assert.True(first.ExitCode == 0, first.Describe());
        var weights = Path.Combine(temp.Path, "model.safetensors");
        Assert.Equal(0, AdanCli.Run(["checkpoint", "export", Path.Combine(runDir, "checkpoints", "step-0000000001"), "--out", weights]).ExitCode);

        var wider = AdanCli.Run([.. s_mlp, "--set", "mlp_hidden=16", "--set", "max_steps=1", "--set", $"init_weights={weights}", "--set", $"run_dir={temp.Path}/w"]);
        Assert.True(wider.ExitCode == 2, wider.Describe());
        Assert.Equal($"adan train: Invalid init_weights: {weights} has 'hidden.weight' as F32 [32, 784], this model has F32 [16, 784].", wider.Stderr.Trim());

        var nothing = AdanCli.Run([.. s_mlp, "--set", "freeze=decoder", "--set", "max_steps=1", "--set", $"run_dir={temp.Path}/f"]);
        Assert.True(nothing.ExitCode == 2, nothing.Describe());
        Assert.StartsWith("adan train: Invalid freeze: 'decoder' names no parameter of this model; its parameters are hidden.weight", nothing.Stderr.Trim());
    }

    private static byte[] Bytes(SafetensorsFile file, string name)
    {
        var tensor = file.Tensor(name);
        var bytes = new byte[tensor.End - tensor.Begin];
        file.ReadBytes(name, bytes);
        return bytes;
    }

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement.Clone();
}
