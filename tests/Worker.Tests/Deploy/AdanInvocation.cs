using System.Text;

namespace Adan.Worker.Tests.Deploy;

/// <summary>
/// One <c>adan COMMAND ...</c> found in a shell script or a container's command line: the subcommand and the words
/// after it (quotes removed, variables left as written). <c>adan launch ... -- train ...</c> is two invocations, since
/// launch runs <c>adan train ...</c> on every rank.
/// </summary>
internal sealed record AdanInvocation(string Command, IReadOnlyList<string> Words)
{
    /// <summary>The flags given (<c>--name</c> or <c>-x</c>, without an <c>=value</c>).</summary>
    public IEnumerable<string> Flags => Words.Where(w => w.StartsWith('-') && w != "--").Select(w => w.Split('=')[0]);

    /// <summary>The word after each occurrence of <paramref name="flag"/>.</summary>
    public IEnumerable<string> ValuesOf(string flag) =>
        Words.Select((w, i) => (w, i)).Where(p => p.w == flag && p.i + 1 < Words.Count).Select(p => Words[p.i + 1]);

    /// <summary>
    /// Every invocation of <c>adan</c> (or a path ending in <c>/adan</c>, or a default one such as
    /// <c>${ADAN:-bin/adan}</c>) in <paramref name="shell"/>.
    /// </summary>
    public static List<AdanInvocation> Parse(string shell)
    {
        var found = new List<AdanInvocation>();
        string? command = null;
        var words = new List<string>();
        var tokens = Tokenize(shell);
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (command is null)
            {
                if ((token == "adan" || token.EndsWith("/adan", StringComparison.Ordinal) || token.EndsWith("/adan}", StringComparison.Ordinal)) && i + 1 < tokens.Count && !IsSeparator(tokens[i + 1]))
                {
                    command = tokens[++i];
                }
                continue;
            }
            if (IsSeparator(token) || (token == "--" && command == "launch"))
            {
                found.Add(new AdanInvocation(command, words));
                words = [];
                command = token == "--" && i + 1 < tokens.Count ? tokens[++i] : null;
                continue;
            }
            words.Add(token);
        }
        if (command is not null)
        {
            found.Add(new AdanInvocation(command, words));
        }
        return found;
    }

    private static bool IsSeparator(string token) => token is ";" or "|" or "&&" or "||" or "&" or ")";

    /// <summary>
    /// Shell words: comments dropped, backslash-newlines joined, quotes removed (a quoted word stays one word), and
    /// each newline or operator its own token.
    /// </summary>
    private static List<string> Tokenize(string shell)
    {
        var text = string.Join("\n", shell.Replace("\\\n", " ").Split('\n').Where(l => !l.TrimStart().StartsWith('#')));
        var tokens = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        char quote = '\0';
        void End()
        {
            if (inWord)
            {
                tokens.Add(word.ToString());
            }
            word.Clear();
            inWord = false;
        }
        foreach (var c in text)
        {
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
                else
                {
                    word.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                inWord = true;
            }
            else if (c is ' ' or '\t')
            {
                End();
            }
            else if (c is '\n' or ';' or '|' or '&' or ')')
            {
                End();
                var op = c == '\n' ? ";" : c.ToString();
                if (tokens.Count > 0 && tokens[^1] == op && op is "|" or "&")
                {
                    tokens[^1] = op + op;
                }
                else
                {
                    tokens.Add(op);
                }
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }
        End();
        return tokens;
    }
}
