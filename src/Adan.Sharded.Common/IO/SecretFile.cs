namespace Adan.Sharded.IO;

/// <summary>
/// A secret (a token) kept in a file that only its owner can read, as ssh insists for a private key: a file open to its
/// group or to others is refused, since anyone who can read the token can act with it. Used by <c>adan launch
/// --token-file</c> and <c>adan coordinator --token-file</c> alike.
/// </summary>
public static class SecretFile
{
    private const UnixFileMode OthersAccess =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Reads the secret in <paramref name="path"/>, trimmed.</summary>
    /// <param name="path">The file.</param>
    /// <param name="secret">The secret, when the file is acceptable.</param>
    /// <param name="problem">Otherwise why not, with the fix: missing, open to others, or empty.</param>
    /// <returns>Whether the file was acceptable.</returns>
    public static bool TryRead(string path, out string secret, out string problem)
    {
        secret = "";
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            problem = "no such file";
            return false;
        }
        // Windows has no mode bits (its ACLs decide); everywhere else refuse an open file.
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(full);
            if ((mode & OthersAccess) != 0)
            {
                problem = $"open to others (mode {Convert.ToString((int)mode, 8)}); make it private with chmod 600 {full}";
                return false;
            }
        }
        secret = File.ReadAllText(full).Trim();
        problem = secret.Length > 0 ? "" : "the file is empty; write the token into it";
        return secret.Length > 0;
    }
}
