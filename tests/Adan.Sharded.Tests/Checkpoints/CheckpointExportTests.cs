using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Adan.Sharded.Checkpoints;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>The consolidated export read back with <see cref="SafetensorsFile"/> and as raw bytes: names, real shapes, values, header layout.</summary>
public sealed class CheckpointExportTests(SavedCheckpointFixture saved) : IClassFixture<SavedCheckpointFixture>
{
    [Fact]
    public void ExportHoldsTheModelsParametersUnderTheirNamesAndShapes()
    {
        var output = Path.Combine(saved.Root, "model.safetensors");
        var (checkpoint, bytes, sha) = CheckpointExporter.Export(saved.Root, output);
        Assert.Equal(new FileInfo(output).Length, bytes);
        Assert.Equal(ShardChecksSha(output), sha);
        var names = checkpoint.Manifest.Layout.Parameters.Select(p => p.Name).ToArray();
        Assert.Equal(4, names.Length);

        using var file = SafetensorsFile.Open(output);
        var values = new List<float>();
        foreach (var entry in checkpoint.Manifest.Layout.Parameters)
        {
            var t = file.Tensor(entry.Name);
            Assert.Equal("F32", t.DType);
            Assert.Equal(entry.Shape, t.Shape);
            var data = new float[t.Numel];
            file.ReadFloats(entry.Name, 0, data);
            values.AddRange(data);
        }
        Assert.Equal(saved.Run.Params, values.ToArray());
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(4, file.Tensors.Count);
    }

    [Fact]
    public void ExportWritesThroughNoLinkPlantedAtAPredictableTemporaryName()
    {
        var output = Directory.CreateTempSubdirectory("adan-export-").FullName;
        try
        {
            var victim = Path.Combine(output, "victim.txt");
            File.WriteAllText(victim, "precious");
            var target = Path.Combine(output, "model.safetensors");
            // The temporary name exports used to write through, known in advance to anyone who can write here.
            File.CreateSymbolicLink(Path.Combine(output, $".model.safetensors.{Environment.ProcessId}.tmp"), victim);

            CheckpointExporter.Export(saved.Root, target);

            Assert.Equal("precious", File.ReadAllText(victim));
            Assert.Null(new FileInfo(target).LinkTarget);
            using var file = SafetensorsFile.Open(target);
            Assert.Equal(4, file.Tensors.Count);
            Assert.DoesNotContain(Directory.EnumerateFiles(output), f => f.EndsWith(".tmp", StringComparison.Ordinal) && new FileInfo(f).LinkTarget is null);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void ExportHeaderIsPlainSafetensors()
    {
        var output = Path.Combine(saved.Root, "model-raw.safetensors");
        CheckpointExporter.Export(saved.CheckpointDirectory, output);
        var raw = File.ReadAllBytes(output);
        var n = (long)BinaryPrimitives.ReadUInt64LittleEndian(raw);
        Assert.Equal(0, n % 8);
        var header = Encoding.UTF8.GetString(raw, 8, (int)n);
        Assert.Equal(header.TrimEnd(' ').Length, header.TrimEnd().Length);
        using var doc = JsonDocument.Parse(header);
        long expectedBegin = 0;
        var entries = doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__")
            .OrderBy(p => p.Value.GetProperty("data_offsets")[0].GetInt64()).ToList();
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], entries.Select(e => e.Name));
        foreach (var e in entries)
        {
            Assert.Equal(["dtype", "shape", "data_offsets"], e.Value.EnumerateObject().Select(p => p.Name));
            Assert.Equal("F32", e.Value.GetProperty("dtype").GetString());
            var shape = e.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var offsets = e.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            Assert.Equal(expectedBegin, offsets[0]);
            Assert.Equal(shape.Aggregate(1L, (a, b) => a * b) * 4, offsets[1] - offsets[0]);
            expectedBegin = offsets[1];
        }
        Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("__metadata__").GetProperty("format").ValueKind);
        Assert.Equal(8 + n + expectedBegin, raw.Length);
    }

    [Fact]
    public void ShardFilesArePlainSafetensorsWithTheFiveSlices()
    {
        using var shard = SafetensorsFile.Open(Path.Combine(saved.CheckpointDirectory, "shard-00001-of-00002.safetensors"));
        Assert.Equal(CheckpointManifest.ShardTensorNames.Order(), shard.Tensors.Keys.Order());
        var manifest = CheckpointManifest.Read(saved.CheckpointDirectory);
        Assert.All(shard.Tensors.Values, t => Assert.Equal([manifest.Layout.TotalNumel / 2], t.Shape));
        Assert.Equal("1", shard.Metadata["adan.rank"]);
        Assert.Equal(0, shard.DataStart % 8);
    }

    private static string ShardChecksSha(string path) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
}
