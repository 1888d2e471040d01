using Adan.Sharded.IO;
using Adan.Worker.Commands;

namespace Adan.Worker.Launch;

/// <summary>
/// A job token kept in a file that only its owner can read (<c>adan launch --token-file</c>), so that batch scripts can
/// make the token beforehand without putting it on a command line or in a file others can read.
/// </summary>
internal static class TokenFile
{
    /// <summary>The token in <paramref name="file"/>, trimmed; a <see cref="UsageException"/> when the file is missing,
    /// empty, or open to its group or to others (<see cref="SecretFile"/>).</summary>
    public static string Read(FileInfo file) =>
        SecretFile.TryRead(file.FullName, out var token, out var problem)
            ? token
            : throw new UsageException($"--token-file {file.FullName}: {problem}");
}
