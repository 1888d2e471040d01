using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Training;
using TorchSharp;

namespace Adan.Worker.Tests.Training;

public class CheckpointExtraTests
{
    [Fact]
    public void AnOlderCheckpointsExtraStillReads()
    {
        // As written before the typed accessor: keys in this order, the global batch appended last.
        var written = JsonNode.Parse("""{"model":"mlp","last_loss":0.625,"buffers":{},"global_batch":96}""")!.AsObject();
        var extra = CheckpointExtra.Of(written);
        Assert.Equal(96, extra.GlobalBatch);
        Assert.Equal(0.625, extra.LastLoss);

        var withoutBatch = CheckpointExtra.Of(JsonNode.Parse("""{"model":"mlp","last_loss":1.5,"buffers":{}}""")!.AsObject());
        Assert.Null(withoutBatch.GlobalBatch);
        Assert.Null(CheckpointExtra.Of(JsonNode.Parse("""{"global_batch":0}""")!.AsObject()).GlobalBatch);
        Assert.Null(CheckpointExtra.Of(null).GlobalBatch);
        Assert.True(double.IsNaN(CheckpointExtra.Of(null).LastLoss));
    }

    [Fact]
    public void CaptureWritesTheKnownKeysWithoutBuffers()
    {
        var json = CheckpointExtra.Capture("resnet", 0.25, 128, shuffle: false);
        Assert.Equal(["model", "last_loss", "global_batch", "shuffle", "version", "git_commit"], json.Select(p => p.Key).ToArray());

        // Through text, as a manifest is read back.
        var extra = CheckpointExtra.Of(JsonNode.Parse(json.ToJsonString())!.AsObject());
        Assert.Equal(128, extra.GlobalBatch);
        Assert.Equal(0.25, extra.LastLoss);
        Assert.False(extra.Shuffle);
        Assert.Null(CheckpointExtra.Of(null).Shuffle);
        Assert.False(extra.HasManifestBuffers);
        Assert.Equal(Adan.Sharded.Training.Telemetry.BuildInfo.Version, extra.Version);
        Assert.NotNull(extra.Version);
        Assert.Equal(Adan.Sharded.Training.Telemetry.BuildInfo.GitCommit, extra.GitCommit);
        Assert.Null(CheckpointExtra.Of(null).GitCommit);
    }

    [Fact]
    public void BuffersOfAFormatOneManifestStillRestore()
    {
        // As format version 1 wrote them: base64 fp32 under extra.buffers.
        var values = new float[] { 0, 1, 2, 3 };
        var base64 = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        var extra = CheckpointExtra.Of(JsonNode.Parse($$"""{"model":"resnet","last_loss":0.25,"buffers":{"running_mean":"{{base64}}","running_var":"{{base64}}"},"global_batch":128}""")!.AsObject());
        Assert.True(extra.HasManifestBuffers);

        using var restored = torch.nn.BatchNorm1d(4);
        extra.RestoreBuffers(restored, "ckpt");
        Assert.Equal(values, restored.running_mean!.data<float>().ToArray());

        using var other = torch.nn.BatchNorm1d(5);
        Assert.Contains("buffer 'running_mean' has 4 values", Assert.Throws<CheckpointException>(() => extra.RestoreBuffers(other, "ckpt")).Message);
    }

    [Fact]
    public void ModelBuffersRoundTripWithTheirDTypesAndShapes()
    {
        using var saved = torch.nn.BatchNorm1d(4);
        saved.running_mean!.copy_(torch.arange(4, dtype: torch.float32));
        saved.num_batches_tracked!.fill_(9);
        var buffers = ModelBuffers.Capture(saved);
        Assert.Equal(["running_mean", "running_var", "num_batches_tracked"], buffers.Select(b => b.Name).ToArray());
        Assert.Equal("I64", buffers[2].DType);

        using var restored = torch.nn.BatchNorm1d(4);
        ModelBuffers.Restore(restored, buffers, "ckpt");
        Assert.Equal(new float[] { 0, 1, 2, 3 }, restored.running_mean!.data<float>().ToArray());
        Assert.Equal(9, restored.num_batches_tracked!.item<long>());

        using var other = torch.nn.BatchNorm1d(5);
        var error = Assert.Throws<CheckpointException>(() => ModelBuffers.Restore(other, buffers, "ckpt"));
        Assert.Contains("buffer 'running_mean' is F32 [4], the model has F32 [5]", error.Message);
        Assert.Equal(1f, other.running_var!.data<float>()[0]);
    }
}
