using System.Diagnostics;
using System.Runtime.InteropServices;
using Adan.Sharded.Checkpoints;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Checkpoints.Fuzz;

/// <summary>
/// The safetensors reader under thousands of seeded mutations of a valid shard-like file: it either opens the file,
/// and then every F32 tensor reads back within its bounds, or refuses it with a <see cref="CheckpointException"/> that
/// names the file. Any other exception fails the test with the seed and the mutation, so it can be replayed.
/// </summary>
public sealed class SafetensorsFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int Cases = 4000;

    private readonly string _directory = SmallCheckpoint.ScratchDirectory("adan-fuzz-st-");

    [Fact]
    public void MutatedHeadersAreAcceptedOrRefusedNamingTheFile()
    {
        var valid = ValidFile();
        var path = Path.Combine(_directory, "shard-00000-of-00001.safetensors");
        var random = new Random(20240601);
        int accepted = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Cases; i++)
        {
            var (bytes, what) = Mutations.Apply(valid, textStart: 8, random);
            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = SafetensorsFile.Open(path);
                ReadEveryF32Tensor(file);
                accepted++;
            }
            catch (CheckpointException e)
            {
                Assert.True(e.Message.Contains(path, StringComparison.Ordinal), $"case {i} ({what}): the refusal does not name the file: {e.Message}");
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} ({what}): {e.GetType().Name} instead of a CheckpointException: {e.Message}");
            }
        }
        output.WriteLine($"{Cases} mutations: {accepted} accepted, {refused} refused, {clock.ElapsedMilliseconds} ms");
        Assert.True(refused > Cases / 2, $"only {refused} of {Cases} mutations were refused: the mutations are too gentle to test anything");
    }

    [Fact]
    public void ADuplicateTensorNameIsRefusedNamingTheFile()
    {
        var path = Write("dup.safetensors",
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8);

        var error = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("tensor 'a' twice", error.Message);
    }

    [Fact]
    public void OverlappingTensorsAreRefusedNamingTheFile()
    {
        var path = Write("overlap.safetensors",
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12);

        var error = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("overlap", error.Message);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "negative dimension")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", "not valid")]
    [InlineData("""{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}""", "not a safetensors dtype")]
    [InlineData("""{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "is not a string")]
    [InlineData("""{"a":[1,2]}""", "not a JSON object")]
    public void MalformedEntriesAreRefusedNamingTheFile(string header, string expected)
    {
        var path = Write("bad.safetensors", header, 4);

        var error = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path));

        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>A shard-like file: metadata and five F32 tensors of 6 elements, as the writer lays them out.</summary>
    private static byte[] ValidFile()
    {
        var header = SafetensorsHeader.ForFloat32(CheckpointManifest.ShardTensorNames.Select(n => (n, new long[] { 2, 3 })),
            new Dictionary<string, string> { ["format"] = "pt", ["adan.step"] = "4", ["adan.rank"] = "0" });
        var data = new float[5 * 6];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = i * 0.25f;
        }
        return [.. header, .. MemoryMarshal.AsBytes(data.AsSpan()).ToArray()];
    }

    private static void ReadEveryF32Tensor(SafetensorsFile file)
    {
        foreach (var t in file.Tensors.Values.Where(t => t.DType == "F32"))
        {
            // Valid offsets lie inside the file, so a small tensor of the data section always fits a small buffer.
            var values = new float[t.Numel];
            file.ReadFloats(t.Name, 0, values);
        }
    }

    private string Write(string name, string json, int dataBytes)
    {
        var text = System.Text.Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + text.Length + dataBytes];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), (ulong)text.Length);
        text.CopyTo(bytes, 8);
        var path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
