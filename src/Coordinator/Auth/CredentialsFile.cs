using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Adan.Coordinator.Auth;

/// <summary>
/// The coordinator's <c>--credentials-file</c>: one submitter credential per line,
/// <c>NAME:sha256:HEX[:EXPIRY]</c> (EXPIRY an ISO-8601 date or UTC time, e.g. <c>2027-06-30</c> or
/// <c>2027-06-30T12:00:00Z</c>); blank lines and lines starting with <c>#</c> are ignored. A name may have several
/// lines (a rotation: old and new secret both work until the old line goes).
/// </summary>
/// <remarks>
/// The file holds hashes, not secrets, but whoever can write it can add a credential: one writable by its group or by
/// others is refused, as ssh refuses an open key.
/// </remarks>
internal static partial class CredentialsFile
{
    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\z")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"\A[0-9a-f]{64}\z")]
    private static partial Regex Sha256Pattern();

    /// <summary>The rule a credential name follows, for messages.</summary>
    public const string NameRule = "1 to 64 characters: letters, digits, '.', '_', '@', '-', starting with a letter or digit; 'operator' is reserved";

    /// <summary>Whether <paramref name="name"/> may name a submitter credential.</summary>
    public static bool IsValidName(string name) =>
        NamePattern().IsMatch(name) && !string.Equals(name, Caller.OperatorName, StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads and checks the file.</summary>
    /// <exception cref="FormatException">A line is malformed or a hash repeats; the message names the file, the line and the fix.</exception>
    /// <exception cref="IOException">The file is missing, unreadable or writable by others.</exception>
    public static IReadOnlyList<SubmitterCredential> Read(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path))
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & WritableByOthers) != 0)
            {
                throw new IOException(
                    $"credentials file {path} is writable by others (mode {Convert.ToString((int)mode, 8)}), who could add a credential; chmod go-w {path}");
            }
        }
        return Parse(File.ReadAllLines(path), path);
    }

    /// <summary>Parses the lines of a credentials file named <paramref name="path"/> in messages.</summary>
    /// <exception cref="FormatException">A line is malformed or a hash repeats.</exception>
    public static IReadOnlyList<SubmitterCredential> Parse(IEnumerable<string> lines, string path)
    {
        var credentials = new List<SubmitterCredential>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            string Where() => $"{path} line {number}";
            // At most 4 fields: the expiry may itself hold colons (12:00:00).
            var fields = line.Split(':', 4);
            if (fields.Length < 3 || fields[1] != "sha256")
            {
                throw new FormatException($"{Where()}: expected NAME:sha256:HEX[:EXPIRY] (make lines with adan coordinator hash-credential NAME)");
            }
            if (!IsValidName(fields[0]))
            {
                throw new FormatException($"{Where()}: invalid credential name '{fields[0]}' ({NameRule})");
            }
            if (!Sha256Pattern().IsMatch(fields[2]))
            {
                throw new FormatException($"{Where()}: invalid hash (expected 64 lowercase hex digits, the SHA-256 of the secret)");
            }
            DateTimeOffset? expires = null;
            if (fields.Length == 4)
            {
                expires = ParseExpiry(fields[3]) ?? throw new FormatException(
                    $"{Where()}: invalid expiry '{fields[3]}' (an ISO-8601 date or UTC time, e.g. 2027-06-30 or 2027-06-30T12:00:00Z)");
            }
            if (!seen.Add(fields[2]))
            {
                throw new FormatException($"{Where()}: the hash repeats an earlier line's; every credential needs its own secret");
            }
            credentials.Add(new SubmitterCredential(fields[0], fields[2], expires));
        }
        return credentials;
    }

    /// <summary>An expiry as the file writes it; a date without a time is midnight UTC. Null if unparsable.</summary>
    public static DateTimeOffset? ParseExpiry(string text) =>
        DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            ? value
            : null;

    /// <summary>A fresh secret: 256 random bits as 64 hex digits.</summary>
    public static string NewSecret() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>The file's line for a credential.</summary>
    public static string Line(string name, string secret, DateTimeOffset? expires) =>
        $"{name}:sha256:{SubmitterCredentials.Hash(secret)}" + (expires is { } e ? ":" + e.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) : "");
}
