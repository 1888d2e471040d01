using Adan.Worker.Commands;

namespace Adan.Worker.Launch;

/// <summary>
/// A job token kept in a file that only its owner can read (<c>adan launch --token-file</c>), so that batch scripts can
/// make the token beforehand without putting it on a command line or in a file others can read.
/// </summary>
internal static class TokenFile
{
    private const UnixFileMode OthersAccess =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>The token in <paramref name="file"/>, trimmed; a <see cref="UsageException"/> when the file is missing,
    /// empty, or open to its group or to others.</summary>
    public static string Read(FileInfo file)
    {
        if (!file.Exists)
        {
            throw new UsageException($"--token-file {file.FullName}: no such file");
        }
        // Windows has no mode bits (its ACLs decide); everywhere else, like ssh with a private key, refuse an open file.
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(file.FullName);
            if ((mode & OthersAccess) != 0)
            {
                throw new UsageException(
                    $"--token-file {file.FullName}: open to others (mode {Convert.ToString((int)mode, 8)}); make it private with chmod 600 {file.FullName}");
            }
        }
        var token = File.ReadAllText(file.FullName).Trim();
        return token.Length > 0 ? token : throw new UsageException($"--token-file {file.FullName}: the file is empty; write the job token into it");
    }
}
