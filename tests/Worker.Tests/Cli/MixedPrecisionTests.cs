using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>precision=bf16-mixed</c> as a user runs it: a 2-rank run stopped after a checkpoint and resumed ends bit for bit
/// where the uninterrupted run ends (at ZeRO 0, 1 and 2, with overlap, accumulation and either reduce dtype, and the
/// GPT's LayerNorms kept fp32); its fp32 master checkpoint resumes on another world size and exports fp32 weights; the
/// summary records half the all-gather bytes; and reduce_dtype=bf16 without bf16-mixed is a one-line usage error.
/// </summary>
/// <remarks>
/// The bitwise cases use the MLP and the GPT, not the ResNet: on a CPU two uninterrupted fp32 ResNet runs already differ
/// after a few steps (its convolutions' backward is not bitwise reproducible here), so no resume could match one.
/// </remarks>
public sealed class MixedPrecisionTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("adan-bf16-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>16 steps on 2 ranks (512 samples, a global batch of 32, 1 epoch), a checkpoint every 4 steps.</summary>
    private static string[] Train(string runDir, string model, int zeroStage, string reduceDtype, int accumulation) =>
    [
        "train", "--set", $"model={model}", "--set", $"dataset={(model == "gpt" ? "text" : "fashion-mnist")}", "--set", "mlp_hidden=32",
        "--set", "resnet_width=4", "--set", "resnet_stages=2", "--set", "gpt_layers=1", "--set", "gpt_embedding=32", "--set", "gpt_context=16", "--set", "train_subset=512",
        "--set", "test_subset=100", "--set", "epochs=1", "--set", $"micro_batch={16 / accumulation}", "--set", $"accumulation={accumulation}",
        "--set", $"zero_stage={zeroStage}", "--set", "precision=bf16-mixed", "--set", $"reduce_dtype={reduceDtype}", "--set", "checkpoint_every=4",
        "--set", "warmup_steps=4", "--set", "resume=latest", "--set", $"run_dir={runDir}",
    ];

    private static Dictionary<string, string> LastShardHashes(string runDir)
    {
        var last = Directory.GetDirectories(Path.Combine(runDir, "checkpoints"), "step-*").Order(StringComparer.Ordinal).Last();
        return Directory.GetFiles(last, "shard-*")
            .ToDictionary(f => $"{Path.GetFileName(last)}/{Path.GetFileName(f)}", f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))));
    }

    private static JsonElement Summary(string runDir) => JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json"))).RootElement;

    private static void Launch(string[] train, params string[] more)
    {
        var result = AdanCli.Run(["launch", "-n", "2", "--", .. train, .. more], TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.Describe());
    }

    [Theory]
    [InlineData("mlp", 2, "fp32", 2)]
    [InlineData("gpt", 1, "bf16", 1)]
    [InlineData("mlp", 0, "bf16", 2)]
    public void AResumedBf16MixedRunEndsBitwiseLikeAnUninterruptedOne(string model, int zeroStage, string reduceDtype, int accumulation)
    {
        var uninterrupted = Path.Combine(_root, "uninterrupted");
        Launch(Train(uninterrupted, model, zeroStage, reduceDtype, accumulation));
        var resumed = Path.Combine(_root, "resumed");
        // max_steps stops the run without touching the schedule; the second run continues from its checkpoint of step 8.
        Launch(Train(resumed, model, zeroStage, reduceDtype, accumulation), "--set", "max_steps=8");
        Assert.False(File.Exists(Path.Combine(resumed, "checkpoints", "step-0000000016", "manifest.json")));
        Launch(Train(resumed, model, zeroStage, reduceDtype, accumulation));

        Assert.StartsWith(Path.Combine(resumed, "checkpoints", "step-0000000008"), Summary(resumed).GetProperty("resumed_from").GetString());
        Assert.Equal(LastShardHashes(uninterrupted), LastShardHashes(resumed));
        foreach (var key in new[] { "final_loss", "test_loss" })
        {
            var (expected, actual) = (Summary(uninterrupted).GetProperty(key).GetDouble(), Summary(resumed).GetProperty(key).GetDouble());
            Assert.True(expected == actual, $"{key}: resumed {actual:R}, uninterrupted {expected:R}");
        }
    }

    [Fact]
    public void ABf16MixedCheckpointResumesOnOneRankAndExportsFp32Weights()
    {
        var runDir = Path.Combine(_root, "two");
        Launch(Train(runDir, "resnet", 1, "fp32", 1), "--set", "max_steps=4");
        var precision = Summary(runDir).GetProperty("precision");
        Assert.Equal("bf16-mixed", precision.GetProperty("mode").GetString());
        Assert.Equal(precision.GetProperty("reduce_bytes_per_step").GetInt64(), 2 * precision.GetProperty("all_gather_bytes_per_step").GetInt64());

        // One rank continues the 2-rank run's fp32 master, resharded, at the same global batch, in bf16-mixed and in fp32 alike.
        foreach (var mode in new[] { "bf16-mixed", "fp32" })
        {
            var oneRank = Path.Combine(_root, $"one-{mode}");
            var result = AdanCli.Run([.. Train(oneRank, "resnet", 1, "fp32", 1), "--set", $"precision={mode}", "--set", "max_steps=6", "--set", "micro_batch=32",
                "--set", $"resume={Path.Combine(runDir, "checkpoints", "step-0000000004")}", "--set", $"checkpoint_dir={Path.Combine(oneRank, "checkpoints")}"],
                TimeSpan.FromMinutes(3));
            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.StartsWith(Path.Combine(runDir, "checkpoints", "step-0000000004"), Summary(oneRank).GetProperty("resumed_from").GetString());
            Assert.Equal(mode, Summary(oneRank).GetProperty("precision").GetProperty("mode").GetString());
        }

        var weights = Path.Combine(_root, "model.safetensors");
        var export = AdanCli.Run(["checkpoint", "export", Path.Combine(runDir, "checkpoints"), "--out", weights], TimeSpan.FromMinutes(1));
        Assert.True(export.ExitCode == 0, export.Describe());
        var bytes = File.ReadAllBytes(weights);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)BitConverter.ToInt64(bytes, 0));
        Assert.Contains("\"F32\"", header);
        Assert.DoesNotContain("BF16", header);
    }

    [Fact]
    public void ReducingInBf16NeedsBf16Mixed()
    {
        var result = AdanCli.Run(["train", "--set", "model=mlp", "--set", "reduce_dtype=bf16"], TimeSpan.FromMinutes(1));

        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Invalid reduce_dtype: bf16 with precision fp32", line);
    }
}
