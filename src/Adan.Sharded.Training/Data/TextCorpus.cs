namespace Adan.Sharded.Training.Data;

/// <summary>
/// A text file split into a training and a validation <see cref="TextDataset"/> sharing one
/// <see cref="CharVocabulary"/>: the first part of the text trains, the rest validates, so no
/// validation window overlaps a training window.
/// </summary>
internal sealed class TextCorpus : IDisposable
{
    /// <summary>Where the Debian package <c>fortunes</c> installs its main file.</summary>
    public const string DefaultFile = "/usr/share/games/fortunes/fortunes";

    private TextCorpus(CharVocabulary vocabulary, TextDataset train, TextDataset validation)
    {
        Vocabulary = vocabulary;
        Train = train;
        Validation = validation;
    }

    /// <summary>The vocabulary of the whole text.</summary>
    public CharVocabulary Vocabulary { get; }

    /// <summary>The training windows.</summary>
    public TextDataset Train { get; }

    /// <summary>The validation windows.</summary>
    public TextDataset Validation { get; }

    /// <summary>Reads <paramref name="path"/> and splits it.</summary>
    /// <exception cref="DatasetNotFoundException">The file does not exist.</exception>
    public static TextCorpus Load(string path, int context, double validationFraction = 0.1)
    {
        if (!File.Exists(path))
        {
            throw new DatasetNotFoundException(
                $"Text file '{path}' not found: install the Debian package fortunes (apt-get install fortunes) " +
                "or set text_file to a UTF-8 text file.");
        }
        return FromText(File.ReadAllText(path), context, validationFraction);
    }

    /// <summary>Splits <paramref name="text"/>: the last <paramref name="validationFraction"/> of it validates.</summary>
    public static TextCorpus FromText(string text, int context, double validationFraction = 0.1)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!(validationFraction > 0 && validationFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "Must be in (0, 1).");
        }
        var vocabulary = new CharVocabulary(text);
        var tokens = vocabulary.Encode(text);
        var split = (int)Math.Round(tokens.Length * (1 - validationFraction));
        var train = new TextDataset(tokens[..split], context);
        var validation = new TextDataset(tokens[split..], context);
        return new TextCorpus(vocabulary, train, validation);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
    }
}
