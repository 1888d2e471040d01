namespace Adan.Sharded.Training.Data;

/// <summary>
/// A character-level vocabulary: the distinct UTF-16 characters of a text, in ordinal order so the
/// token ids depend only on the text.
/// </summary>
internal sealed class CharVocabulary
{
    private readonly char[] _characters;
    private readonly Dictionary<char, int> _ids;

    /// <summary>Builds the vocabulary of <paramref name="text"/>.</summary>
    public CharVocabulary(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _characters = text.Distinct().Order().ToArray();
        _ids = new Dictionary<char, int>(_characters.Length);
        for (var i = 0; i < _characters.Length; i++)
        {
            _ids[_characters[i]] = i;
        }
    }

    /// <summary>The number of tokens.</summary>
    public int Size => _characters.Length;

    /// <summary>The token ids of <paramref name="text"/>.</summary>
    /// <exception cref="ArgumentException">A character is not in the vocabulary.</exception>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new int[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            if (!_ids.TryGetValue(text[i], out ids[i]))
            {
                throw new ArgumentException($"Character U+{(int)text[i]:X4} at {i} is not in the vocabulary.", nameof(text));
            }
        }
        return ids;
    }

    /// <summary>The text of <paramref name="ids"/>.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var chars = new char[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            chars[i] = _characters[ids[i]];
        }
        return new string(chars);
    }
}
