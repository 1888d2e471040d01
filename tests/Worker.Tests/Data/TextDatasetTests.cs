using Adan.Sharded.Training.Data;

namespace Adan.Worker.Tests.Data;

public class TextDatasetTests
{
    [Fact]
    public void VocabularyIsSortedAndRoundTrips()
    {
        var vocabulary = new CharVocabulary("hello world");
        Assert.Equal(8, vocabulary.Size);
        var ids = vocabulary.Encode("low");
        Assert.Equal("low", vocabulary.Decode(ids));
        Assert.Equal(0, vocabulary.Encode(" ")[0]);
        Assert.Throws<ArgumentException>(() => vocabulary.Encode("z"));
    }

    [Fact]
    public void SamplesAreWindowsOfContextPlusOne()
    {
        using var data = new TextDataset([10, 11, 12, 13, 14, 15], context: 3);
        Assert.Equal(3, data.Count);

        var (x, y) = data.Batch([2, 0]);

        Assert.Equal(new long[] { 2, 3 }, x.shape);
        Assert.Equal(new long[] { 12, 13, 14, 10, 11, 12 }, x.data<long>().ToArray());
        Assert.Equal(new long[] { 13, 14, 15, 11, 12, 13 }, y.data<long>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Batch([3]));
    }

    [Fact]
    public void CorpusSplitsNinetyTen()
    {
        var text = string.Concat(Enumerable.Repeat("abcdefghij", 10));
        using var corpus = TextCorpus.FromText(text, context: 4);
        Assert.Equal(10, corpus.Vocabulary.Size);
        Assert.Equal(90, corpus.Train.TokenCount);
        Assert.Equal(10, corpus.Validation.TokenCount);
        Assert.Equal(86, corpus.Train.Count);
        Assert.Equal(6, corpus.Validation.Count);
    }

    [Fact]
    public void TooShortTextSaysSo()
    {
        var e = Assert.Throws<ArgumentException>(() => TextCorpus.FromText("abcdefghij", context: 4));
        Assert.StartsWith("1 tokens are fewer than one window of context + 1 = 5", e.Message);
    }

    [Fact]
    public void MissingTextFileSaysHowToInstallIt()
    {
        var e = Assert.Throws<DatasetNotFoundException>(() => TextCorpus.Load("/nonexistent/fortunes", 8));
        Assert.Equal(
            "Text file '/nonexistent/fortunes' not found: install the Debian package fortunes (apt-get install fortunes) or set text_file to a UTF-8 text file.",
            e.Message);
    }

    [Fact]
    public void InstalledFortunesLoad()
    {
        if (!File.Exists(TextCorpus.DefaultFile))
        {
            return;
        }
        using var corpus = TextCorpus.Load(TextCorpus.DefaultFile, 64);
        Assert.InRange(corpus.Vocabulary.Size, 40, 200);
        Assert.True(corpus.Train.Count > 9 * corpus.Validation.Count - 1000);
    }
}
