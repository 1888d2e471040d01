using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Data;

namespace Adan.Worker.Tests.Data;

/// <summary>
/// <see cref="TokenFileDataset"/> maps nanoGPT's format (little-endian ids, no header): sample i is the window of
/// context + 1 tokens at token i × context, in uint16 and uint32, and refuses a missing, empty or odd-sized file with
/// a message that names it.
/// </summary>
public class TokenFileDatasetTests
{
    [Fact]
    public void SampleIIsTheWindowAtIContextShiftedByOneInBothWidths()
    {
        using var temp = TestFiles.CreateTempDirectory();
        ushort[] tokens = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
        var narrow = Write(Path.Combine(temp.Path, "t16.bin"), tokens.SelectMany(BitConverter.GetBytes));
        var wide = Write(Path.Combine(temp.Path, "t32.bin"), tokens.Select(t => (uint)t + 70_000).SelectMany(BitConverter.GetBytes));

        using var data = new TokenFileDataset(narrow, context: 3);
        Assert.Equal(3, data.Count);
        Assert.Equal(10, data.TokenCount);
        var (x, y) = data.Batch([2, 0]);
        Assert.Equal(new long[] { 2, 3 }, x.shape);
        Assert.Equal(new long[] { 16, 17, 18, 10, 11, 12 }, x.data<long>().ToArray());
        Assert.Equal(new long[] { 17, 18, 19, 11, 12, 13 }, y.data<long>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Batch([3]));

        using var large = new TokenFileDataset(wide, context: 3, TokenDType.Uint32);
        var (lx, ly) = large.Batch([1]);
        Assert.Equal(new long[] { 70_013, 70_014, 70_015 }, lx.data<long>().ToArray());
        Assert.Equal(new long[] { 70_014, 70_015, 70_016 }, ly.data<long>().ToArray());

        // A range of the file, as the trainer holds out validation: sample 0 of the range is sample 2 of the file.
        using var tail = new TokenFileDataset(narrow, context: 3, firstSample: 2);
        Assert.Equal(1, tail.Count);
        Assert.Equal(new long[] { 16, 17, 18 }, tail.Batch([0]).Input.data<long>().ToArray());

        using var checkedIds = new TokenFileDataset(narrow, context: 3, vocabularySize: 18);
        var error = Assert.Throws<InvalidDataException>(() => checkedIds.Batch([2]));
        Assert.Contains("token 8 is 18, not below vocab_size 18", error.Message);
    }

    [Fact]
    public void BatchesReuseTheirBuffers()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var path = Write(Path.Combine(temp.Path, "t.bin"), Enumerable.Range(0, 1000).SelectMany(i => BitConverter.GetBytes((ushort)i)));
        using var data = new TokenFileDataset(path, context: 8);
        var first = Ptr(data.Batch([0, 1, 2, 3]).Input);
        Assert.Equal(first, Ptr(data.Batch([7, 5, 3, 1]).Input));
        Assert.Equal(first, Ptr(data.Batch([9, 10]).Input));
    }

    [Fact]
    public void AMissingEmptyOddOrShortFileIsRefusedNamingIt()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var missing = Path.Combine(temp.Path, "missing.bin");
        Assert.Contains(missing, Assert.Throws<DatasetNotFoundException>(() => new TokenFileDataset(missing, 4)).Message);
        var empty = Write(Path.Combine(temp.Path, "empty.bin"), []);
        Assert.Contains("is empty", Assert.Throws<InvalidDataException>(() => new TokenFileDataset(empty, 4)).Message);
        var odd = Write(Path.Combine(temp.Path, "odd.bin"), [1, 2, 3]);
        Assert.Contains("not a whole number of 2-byte uint16 tokens", Assert.Throws<InvalidDataException>(() => new TokenFileDataset(odd, 4)).Message);
        var notWide = Write(Path.Combine(temp.Path, "six.bin"), [1, 2, 3, 4, 5, 6]);
        Assert.Contains("4-byte uint32", Assert.Throws<InvalidDataException>(() => new TokenFileDataset(notWide, 1, TokenDType.Uint32)).Message);
        Assert.Contains("fewer than one window", Assert.Throws<InvalidDataException>(() => new TokenFileDataset(notWide, 4)).Message);
    }

    [Fact]
    public void TheTrainerHoldsTheLastTenPercentOutWithoutAValidationFile()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var path = Write(Path.Combine(temp.Path, "t.bin"), Enumerable.Range(0, 1001).SelectMany(i => BitConverter.GetBytes((ushort)(i % 50))));
        var config = new TrainConfig { Model = ModelKind.Gpt, Dataset = DatasetKind.Tokens, TokenFile = path, VocabSize = 50, GptContext = 10 };
        using var data = TrainingData.Load(config);
        Assert.Equal(90, data.Train.Count);
        Assert.Equal(10, data.Test!.Count);
        Assert.Equal(50, data.VocabularySize);
        Assert.Equal(new long[] { 0, 1, 2 }, data.Test.Batch([0]).Input.data<long>().ToArray()[..3]);

        using var separate = TrainingData.Load(config with { TokenValFile = path, TrainSubset = 20 });
        Assert.Equal(20, separate.Train.Count);
        Assert.Equal(100, separate.Test!.Count);
        Assert.Contains("vocab_size", Assert.Throws<ConfigException>(() => TrainingData.Load(config with { VocabSize = 0 })).Message);
    }

    private static nint Ptr(TorchSharp.torch.Tensor t) => Adan.Sharded.Tensors.TensorMemory.DataPointer(t);

    private static string Write(string path, IEnumerable<byte> bytes)
    {
        File.WriteAllBytes(path, bytes.ToArray());
        return path;
    }
}
