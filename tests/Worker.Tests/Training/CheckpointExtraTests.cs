using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Worker.Training;
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
    public void CaptureWritesTheKnownKeysAndBuffersRoundTrip()
    {
        using var saved = torch.nn.BatchNorm1d(4);
        saved.running_mean!.copy_(torch.arange(4, dtype: torch.float32));
        var json = CheckpointExtra.Capture("resnet", 0.25, 128, saved);
        Assert.Equal(["model", "last_loss", "buffers", "global_batch"], json.Select(p => p.Key).ToArray());

        // Through text, as a manifest is read back.
        var extra = CheckpointExtra.Of(JsonNode.Parse(json.ToJsonString())!.AsObject());
        Assert.Equal(128, extra.GlobalBatch);
        Assert.Equal(0.25, extra.LastLoss);
        using var restored = torch.nn.BatchNorm1d(4);
        extra.RestoreBuffers(restored, "ckpt");
        Assert.Equal(new float[] { 0, 1, 2, 3 }, restored.running_mean!.data<float>().ToArray());

        using var other = torch.nn.BatchNorm1d(5);
        Assert.Contains("buffer 'running_mean' has 4 values", Assert.Throws<CheckpointException>(() => extra.RestoreBuffers(other, "ckpt")).Message);
    }
}
