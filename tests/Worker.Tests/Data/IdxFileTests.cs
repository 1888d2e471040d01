using Adan.Sharded.Training.Data;

namespace Adan.Worker.Tests.Data;

public class IdxFileTests
{
    [Theory]
    [InlineData("images.idx")]
    [InlineData("images.idx.gz")]
    public void RoundTripsPlainAndGzip(string name)
    {
        using var temp = TestFiles.CreateTempDirectory();
        var path = Path.Combine(temp.Path, name);
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        IdxFile.Write(path, [2, 3, 4], data);

        var file = IdxFile.Read(path);

        Assert.Equal(new[] { 2, 3, 4 }, file.Shape);
        Assert.Equal(data, file.Data);
    }

    [Fact]
    public void ParsesTheHeaderByteByByte()
    {
        byte[] bytes = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
        var file = IdxFile.Read(new MemoryStream(bytes), "labels");
        Assert.Equal(new[] { 3 }, file.Shape);
        Assert.Equal(new byte[] { 7, 8, 9 }, file.Data);
    }

    [Theory]
    [InlineData("images.idx")]
    [InlineData("images.idx.gz")]
    public void ReadsOnlyTheFirstItemsWhenAskedAndKnowsHowManyTheFileDeclares(string name)
    {
        using var temp = TestFiles.CreateTempDirectory();
        var path = Path.Combine(temp.Path, name);
        var data = Enumerable.Range(0, 5 * 3).Select(i => (byte)i).ToArray();
        IdxFile.Write(path, [5, 3], data);

        var first = IdxFile.Read(path, maxItems: 2);
        Assert.Equal(new[] { 2, 3 }, first.Shape);
        Assert.Equal(data[..6], first.Data);
        Assert.Equal(5, first.DeclaredItems);
        // More than the file has reads it all; a truncated file is still refused within what is read.
        Assert.Equal(data, IdxFile.Read(path, maxItems: 9).Data);
        Assert.Equal("short is truncated.", Assert.Throws<InvalidDataException>(() => IdxFile.Read(new MemoryStream([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "short", 3)).Message);
        Assert.Equal([1, 2], IdxFile.Read(new MemoryStream([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "short", 2).Data);
    }

    [Fact]
    public void RejectsWrongMagicAndTruncation()
    {
        var magic = Assert.Throws<InvalidDataException>(() => IdxFile.Read(new MemoryStream([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]), "floats"));
        Assert.Equal("floats is not an unsigned-byte IDX file (magic 00000D01, expected 000008NN).", magic.Message);
        var truncated = Assert.Throws<InvalidDataException>(() => IdxFile.Read(new MemoryStream([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "short"));
        Assert.Equal("short is truncated.", truncated.Message);
    }

    [Fact]
    public void FashionMnistLoadsFromADirectoryOfGzipAndPlainFiles()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var pixels = new byte[3 * 28 * 28];
        pixels[0] = 255;
        pixels[28 * 28] = 0;
        IdxFile.Write(Path.Combine(temp.Path, "train-images-idx3-ubyte.gz"), [3, 28, 28], pixels);
        IdxFile.Write(Path.Combine(temp.Path, "train-labels-idx1-ubyte"), [3], [4, 9, 0]);

        using var train = FashionMnist.LoadTrain(temp.Path);
        using var subset = FashionMnist.LoadTrain(temp.Path, limit: 2);

        Assert.Equal(3, train.Count);
        Assert.Equal(9, train.Label(1));
        Assert.Equal(2, subset.Count);
        var (x, y) = train.Batch([0, 2]);
        Assert.Equal(new long[] { 2, 1, 28, 28 }, x.shape);
        Assert.Equal(new long[] { 4, 0 }, y.data<long>().ToArray());
        Assert.Equal((1f - FashionMnist.Mean) / FashionMnist.Std, x[0, 0, 0, 0].item<float>(), 5);
        Assert.Equal(-FashionMnist.Mean / FashionMnist.Std, x[1, 0, 0, 0].item<float>(), 5);
    }

    [Fact]
    public void MissingDataSaysHowToInstallIt()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var e = Assert.Throws<DatasetNotFoundException>(() => FashionMnist.LoadTest(temp.Path));
        Assert.Equal(
            $"Fashion-MNIST file t10k-images-idx3-ubyte(.gz) not found in '{temp.Path}': install the Debian package dataset-fashion-mnist " +
            "(apt-get install dataset-fashion-mnist) or set data_dir to a directory holding the IDX files.",
            e.Message);
    }

    [Fact]
    public void InstalledFashionMnistHasTheExpectedSizes()
    {
        if (!Directory.Exists(FashionMnist.DefaultDirectory))
        {
            return;
        }
        using var test = FashionMnist.LoadTest(FashionMnist.DefaultDirectory);
        Assert.Equal(10_000, test.Count);
    }
}
